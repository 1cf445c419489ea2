package api

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

// readingInput is the body of POST /api/v1/meters/{address}/readings.
type readingInput struct {
	Time             time.Time `json:"time"`
	ForwardActiveKWh string    `json:"forward_active_kwh"`
	Reason           string    `json:"reason"`
}

// postReading records a manual reading (a meter's final reading when it is
// removed, its first when installed, or a read by hand), audited.
func (s *Server) postReading(w http.ResponseWriter, r *http.Request, p principal) {
	m, ok := s.meter(w, r)
	if !ok {
		return
	}
	var in readingInput
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	e, err := amigo.ParseEnergy(in.ForwardActiveKWh)
	if err != nil {
		writeErr(w, err)
		return
	}
	if in.Time.IsZero() || in.Reason == "" {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "manual reading", "a manual reading needs a time and a reason / 手工读数需要时间和原因"))
		return
	}
	if err := manualTimeOK(m, in.Time, s.now()); err != nil {
		writeErr(w, err)
		return
	}
	rd := amigo.Reading{MeterID: m.ID, Time: in.Time, Kind: amigo.KindManual, Forward: [5]amigo.Energy{e}, HasForward: true,
		Quality: amigo.QualityActual, EditedBy: p.User, EditReason: in.Reason, Source: "manual", ReceivedAt: s.now()}
	res, err := s.store.WriteReadings(r.Context(), []amigo.Reading{rd})
	if err != nil {
		writeErr(w, err)
		return
	}
	if res.Conflicts > 0 {
		writeErr(w, amigo.Errorf(amigo.ECONFLICT, "manual reading", "a different reading exists for that time / 该时刻已有不同读数"))
		return
	}
	s.store.AppendAudit(r.Context(), amigo.AuditEntry{Time: s.now(), Actor: p.User, Action: "reading.manual", Object: "meter " + m.Address, Detail: e.String() + " kWh: " + in.Reason})
	writeJSON(w, http.StatusCreated, map[string]any{"meter": m.Address, "time": in.Time, "forward_active_kwh": e.String()})
}

// manualSkew is how far past now a manual reading may be dated (clocks of
// hand-held devices differ).
const manualSkew = 5 * time.Minute

// manualTimeOK checks a manual reading's time: not before the meter's
// installation (nor minTime), not after its removal, nor after now plus
// manualSkew.
func manualTimeOK(m amigo.Meter, t, now time.Time) error {
	if err := checkTime("time", t); err != nil {
		return err
	}
	if !m.InstalledAt.IsZero() && t.Before(m.InstalledAt) {
		return amigo.Errorf(amigo.EINVALID, "manual reading", "time %s is before the meter's installation (%s) / 读数时间早于电表安装时间", t.Format(time.RFC3339), m.InstalledAt.Format(time.RFC3339))
	}
	if !m.RemovedAt.IsZero() && t.After(m.RemovedAt) {
		return amigo.Errorf(amigo.EINVALID, "manual reading", "time %s is after the meter's removal (%s) / 读数时间晚于电表拆除时间", t.Format(time.RFC3339), m.RemovedAt.Format(time.RFC3339))
	}
	if t.After(now.Add(manualSkew)) {
		return amigo.Errorf(amigo.EINVALID, "manual reading", "time %s is in the future / 读数时间不能晚于当前时间", t.Format(time.RFC3339))
	}
	return nil
}

// accountConsumption is the consumption of an account across all the meters
// it has had: a meter swap keeps it continuous.
func (s *Server) accountConsumption(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "account", "account id must be a number / 账户编号应为数字"))
		return
	}
	ms, err := s.accountMeters(r, id)
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(ms) == 0 {
		writeErr(w, amigo.Errorf(amigo.ENOTFOUND, "account", "account %d has no meters / 账户无电表", id))
		return
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].InstalledAt.Before(ms[j].InstalledAt) })
	loc := s.siteLoc(r, ms[0].SiteID)
	interval, from, to, err := s.consumptionQuery(r, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	segs, err := analysis.LoadSegments(r.Context(), s.store, ms, interval, from, to, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	pts, err := analysis.Consumption(segs, interval, from, to, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	meters := make([]ratioJSON, len(ms))
	for i, m := range ms {
		meters[i] = ratioOf(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": id, "interval": interval, "unit": "kWh", "side": "primary", "meters": meters, "time_zone": loc.String(), "items": pts})
}

// accountMeters returns the meters an account paid for: its meter periods
// (each meter cut to the account's period on it, so that a move-in or
// move-out counts from the reading at that instant), or, for an account
// id with no account record (an archive that names accounts only on its
// meters), the meters that name it.
func (s *Server) accountMeters(r *http.Request, id int64) ([]amigo.Meter, error) {
	a, err := s.store.GetAccount(r.Context(), id)
	switch {
	case err == nil && len(a.Meters) > 0:
		ms := make([]amigo.Meter, 0, len(a.Meters))
		for _, am := range a.Meters {
			m, err := s.store.GetMeter(r.Context(), am.MeterID)
			if err != nil {
				return nil, err
			}
			if m.InstalledAt.IsZero() || am.From.After(m.InstalledAt) {
				m.InstalledAt = am.From
			}
			if !am.To.IsZero() && (m.RemovedAt.IsZero() || am.To.Before(m.RemovedAt)) {
				m.RemovedAt = am.To
			}
			ms = append(ms, m)
		}
		return ms, nil
	case err != nil && amigo.ErrorKind(err) != amigo.ENOTFOUND:
		return nil, err
	}
	all, _, err := s.store.ListMeters(r.Context(), amigo.MeterFilter{IncludeRetired: true})
	if err != nil {
		return nil, err
	}
	var ms []amigo.Meter
	for _, m := range all {
		if m.AccountID == id {
			ms = append(ms, m)
		}
	}
	return ms, nil
}
