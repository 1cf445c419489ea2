package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

// An area's suspect meters: its customer meters ranked by
// analysis.Suspects (analysis.SuspectRule) over the last suspectDays
// whole days, read from the store as the line-loss figures are.

// suspectDays is the window the ranking looks at.
const suspectDays = 14

// maxSuspects bounds the rows shown.
const maxSuspects = 100

func (s *Server) suspectRoutes() {
	s.mux.HandleFunc("GET /areas/{id}/suspects", s.authed(s.suspectsPage))
}

type suspectsData struct {
	Area     amigo.Area
	From, To string
	Rule     string
	Rows     []suspectRow
	Meters   int // customer meters looked at
}

// suspectRow is a ranked meter with its share of the drop in per cent.
type suspectRow struct {
	analysis.Suspect
	SharePct float64
}

func (s *Server) suspectsPage(w http.ResponseWriter, r *http.Request, se session, v *view) {
	ctx := r.Context()
	v.Nav = "areas"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "area", "no such area / 无此台区"))
		return
	}
	a, err := s.cfg.Store.GetArea(ctx, id)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Title = v.L.T("suspects") + " · " + a.Name
	loc := s.siteLoc(ctx, a.SiteID)
	to := amigo.Day(s.cfg.Now(), loc)
	from := to.AddDate(0, 0, -suspectDays)
	rows, n, err := s.suspects(ctx, a, from, to, loc)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d := suspectsData{Area: a, From: from.Format("2006-01-02"), To: to.AddDate(0, 0, -1).Format("2006-01-02"), Rule: v.L.Pick(analysis.SuspectRule), Meters: n}
	for _, x := range rows {
		d.Rows = append(d.Rows, suspectRow{Suspect: x, SharePct: x.DropShare * 100})
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "suspects", v)
}

// suspects ranks the area's customer meters over [from, to) and keeps
// those that show a sign (at most maxSuspects); n is how many were
// looked at.
func (s *Server) suspects(ctx context.Context, a amigo.Area, from, to time.Time, loc *time.Location) ([]analysis.Suspect, int, error) {
	ms, _, err := s.cfg.Store.ListMeters(ctx, amigo.MeterFilter{AreaID: a.ID, IncludeRetired: true})
	if err != nil {
		return nil, 0, err
	}
	var chain []amigo.Meter
	if a.SupplyMeterID != 0 {
		sm, err := s.cfg.Store.GetMeter(ctx, a.SupplyMeterID)
		if err != nil {
			return nil, 0, err
		}
		chain = analysis.SupplyChain(sm, ms)
	}
	inChain := map[int64]bool{}
	for _, m := range chain {
		inChain[m.ID] = true
	}
	var customers []amigo.Meter
	for _, m := range ms {
		if !inChain[m.ID] && (m.RemovedAt.IsZero() || m.RemovedAt.After(from)) {
			customers = append(customers, m)
		}
	}
	supplySegs, err := analysis.LoadSegments(ctx, s.cfg.Store, chain, "day", from, to, loc)
	if err != nil {
		return nil, 0, err
	}
	custSegs, err := analysis.LoadSegments(ctx, s.cfg.Store, customers, "day", from, to, loc)
	if err != nil {
		return nil, 0, err
	}
	in := map[int64]bool{}
	for _, m := range customers {
		in[m.ID] = true
	}
	stopped, err := s.eventCounts(ctx, amigo.EventStopped, from, in)
	if err != nil {
		return nil, 0, err
	}
	reversed, err := s.eventCounts(ctx, amigo.EventReversed, from, in)
	if err != nil {
		return nil, 0, err
	}
	all, err := analysis.Suspects(supplySegs, custSegs, from, to, loc, stopped, reversed)
	if err != nil {
		return nil, 0, err
	}
	var out []analysis.Suspect
	for _, x := range all {
		if x.Signs() && len(out) < maxSuspects {
			out = append(out, x)
		}
	}
	return out, len(customers), nil
}

// eventPages bounds the station-wide pages of events read for one kind;
// beyond them each meter's events are counted on their own.
const eventPages = 5

// eventCounts counts the events of kind since since by meter, for the
// meters in.
func (s *Server) eventCounts(ctx context.Context, kind string, since time.Time, in map[int64]bool) (map[int64]int, error) {
	counts := map[int64]int{}
	const page = 1000
	for p := 0; p < eventPages; p++ {
		es, total, err := s.cfg.Store.ListEvents(ctx, amigo.EventFilter{Kind: kind, Since: since, Limit: page, Offset: p * page})
		if err != nil {
			return nil, err
		}
		if total > eventPages*page {
			break // too many station-wide: count per meter below
		}
		for _, e := range es {
			if in[e.MeterID] {
				counts[e.MeterID]++
			}
		}
		if (p+1)*page >= total {
			return counts, nil
		}
	}
	clear(counts)
	for id := range in {
		_, n, err := s.cfg.Store.ListEvents(ctx, amigo.EventFilter{Kind: kind, MeterID: id, Since: since, Limit: 1})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			counts[id] = n
		}
	}
	return counts, nil
}
