package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// MeterState is what the control endpoint reports about a meter.
type MeterState struct {
	Address    string  `json:"address"`
	Profile    string  `json:"profile"`
	Phases     int     `json:"phases"`
	ForwardKWh string  `json:"forward_kwh"`
	ReverseKWh string  `json:"reverse_kwh"`
	PowerKW    float64 `json:"power_kw"`
	RelayOpen  bool    `json:"relay_open"`
	Clock      string  `json:"clock"`
	Faults     Faults  `json:"faults"`
}

// State returns the meter's state at true time now.
func (m *Meter) State(now time.Time) MeterState {
	m.syncSupply(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	return MeterState{
		Address: m.addr.String(), Profile: m.profile.String(), Phases: int(m.phases),
		ForwardKWh: cents(m.fwd[0]).String(), ReverseKWh: cents(m.rev[0]).String(),
		PowerKW: m.kw, RelayOpen: m.relayOpen, Clock: m.clockAt(now).Format(time.RFC3339), Faults: m.faults,
	}
}

// ControlHandler is a small HTTP endpoint for tests and demos:
//
//	GET  /meters[?address=A]   the meters' state as JSON (at most 1000)
//	POST /faults               body: fault specs, one a line (ADDRESS:KIND[:ARG], see ApplyFault)
//
// It has no authentication: bind it to loopback.
func (b *Bus) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /meters", func(w http.ResponseWriter, r *http.Request) {
		now := b.clock.Now()
		var out []MeterState
		if s := r.URL.Query().Get("address"); s != "" {
			a, err := dlt645.ParseAddress(s)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			m, ok := b.Meter(a)
			if !ok {
				http.Error(w, "no such meter", http.StatusNotFound)
				return
			}
			out = append(out, m.State(now))
		} else {
			for i, m := range b.Meters() {
				if i == 1000 {
					break
				}
				out = append(out, m.State(now))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(io.LimitReader(r.Body, 1<<20))
		n := 0
		for sc.Scan() {
			spec := strings.TrimSpace(sc.Text())
			if spec == "" {
				continue
			}
			if err := b.ApplyFault(spec); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b.log.Info("sim: fault applied", "spec", spec)
			n++
		}
		fmt.Fprintf(w, "%d faults applied\n", n)
	})
	return mux
}
