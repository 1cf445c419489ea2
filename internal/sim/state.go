package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// State is a fleet's saved registers, so a restarted fleet continues where
// it stopped instead of starting its meters again (which would give the same
// instants different values). Faults are not saved: they come from the
// configuration of each run.
type State struct {
	Version int          `json:"version"`
	SavedAt time.Time    `json:"saved_at"` // the fleet clock's time of the snapshot
	Meters  []savedMeter `json:"meters"`
}

const stateVersion = 1

// maxStateBytes bounds a state file read back (about 3 kB per meter).
const maxStateBytes = 1 << 30

type savedRec struct {
	At  uint32    `json:"at"`
	Fwd [5]uint32 `json:"fwd"`
	Rev [5]uint32 `json:"rev"`
}

type savedMeter struct {
	Address       string        `json:"address"`
	Last          time.Time     `json:"last"`
	ClockOffset   time.Duration `json:"clock_offset"`
	Fwd           [5]int64      `json:"fwd"`
	Rev           [5]int64      `json:"rev"`
	TrueFwd       int64         `json:"true_fwd"`
	TrueRev       int64         `json:"true_rev"`
	RelayOpen     bool          `json:"relay_open"`
	RelayCmd      bool          `json:"relay_cmd"`
	KeepPower     bool          `json:"keep_power"`
	MoneyMilliFen int64         `json:"money_milli_fen"`
	Counters      [4]uint32     `json:"counters"` // power downs, cover opens, trips, closes
	Daily         []savedRec    `json:"daily"`
	Monthly       []savedRec    `json:"monthly"`
	Instants      []savedRec    `json:"instants"`
}

func saveRecs(rs []dayRec) []savedRec {
	out := make([]savedRec, len(rs))
	for i, r := range rs {
		out[i] = savedRec{At: r.at, Fwd: r.fwd, Rev: r.rev}
	}
	return out
}

func loadRecs(rs []savedRec, limit int) []dayRec {
	if len(rs) > limit {
		rs = rs[len(rs)-limit:]
	}
	out := make([]dayRec, len(rs))
	for i, r := range rs {
		out[i] = dayRec{at: r.At, fwd: r.Fwd, rev: r.Rev}
	}
	return out
}

// Snapshot brings every meter to the bus clock's now and returns their
// state.
func (b *Bus) Snapshot() *State {
	now := b.clock.Now()
	st := &State{Version: stateVersion, SavedAt: now}
	for _, m := range b.Meters() {
		m.syncSupply(now)
		m.mu.Lock()
		m.advance(now)
		st.Meters = append(st.Meters, savedMeter{
			Address: m.addr.String(), Last: m.last, ClockOffset: m.clockOff,
			Fwd: m.fwd, Rev: m.rev, TrueFwd: m.trueFwd, TrueRev: m.trueRev,
			RelayOpen: m.relayOpen, RelayCmd: m.relayCmd, KeepPower: m.keepPower, MoneyMilliFen: m.moneyMilliFen,
			Counters: [4]uint32{m.powerDowns, m.coverOpens, m.trips, m.closes},
			Daily:    saveRecs(m.daily), Monthly: saveRecs(m.monthly), Instants: saveRecs(m.instants),
		})
		m.mu.Unlock()
	}
	return st
}

// Restore sets the meters of the bus that st knows (by address) to their
// saved state and returns how many it restored; meters st does not know
// keep their fresh state. Call it before the bus serves.
func (b *Bus) Restore(st *State) int {
	n := 0
	for _, s := range st.Meters {
		a, err := dlt645.ParseAddress(s.Address)
		if err != nil {
			continue
		}
		m, ok := b.Meter(a)
		if !ok {
			continue
		}
		m.mu.Lock()
		m.last, m.clockOff = s.Last, s.ClockOffset
		m.fwd, m.rev, m.trueFwd, m.trueRev = s.Fwd, s.Rev, s.TrueFwd, s.TrueRev
		m.relayOpen, m.relayCmd, m.keepPower, m.moneyMilliFen = s.RelayOpen, s.RelayCmd, s.KeepPower, s.MoneyMilliFen
		m.powerDowns, m.coverOpens, m.trips, m.closes = s.Counters[0], s.Counters[1], s.Counters[2], s.Counters[3]
		m.daily = loadRecs(s.Daily, dlt645.DailyFreezeDays)
		m.monthly = loadRecs(s.Monthly, 12)
		m.instants = loadRecs(s.Instants, 3)
		m.kw = m.powerAt(m.last)
		m.mu.Unlock()
		n++
	}
	// A supply meter counts its customers from their restored totals on.
	for _, m := range b.Meters() {
		m.mu.Lock()
		if m.feeds != nil {
			m.seenFwd, m.seenRev = 0, 0
			for _, c := range m.feeds {
				c.mu.Lock()
				m.seenFwd += c.trueFwd
				m.seenRev += c.trueRev
				c.mu.Unlock()
			}
		}
		m.mu.Unlock()
	}
	return n
}

// SaveState writes the bus's snapshot to path atomically: a temporary file
// in the same directory, synced, then renamed over path, so a crash leaves
// the old state or the new one, never half of one.
func (b *Bus) SaveState(path string) error {
	data, err := json.Marshal(b.Snapshot())
	if err != nil {
		return fmt.Errorf("sim: state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: state: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("sim: state: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("sim: state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sim: state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("sim: state: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadState reads a state file written by SaveState. A missing file gives
// an error that matches os.ErrNotExist.
func LoadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st State
	dec := json.NewDecoder(io.LimitReader(f, maxStateBytes))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("sim: state %s: %w / 电表状态文件损坏", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("sim: state %s: version %d, want %d / 电表状态文件版本不符", path, st.Version, stateVersion)
	}
	return &st, nil
}
