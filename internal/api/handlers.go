package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

type lastReading struct {
	Time             time.Time `json:"time"`
	Kind             string    `json:"kind"`
	ForwardActiveKWh string    `json:"forward_active_kwh"`
}

type meterJSON struct {
	amigo.Meter
	Collector   string       `json:"collector"`
	Area        string       `json:"area"`
	LastReading *lastReading `json:"last_reading"`
}

func (s *Server) meterView(r *http.Request, m amigo.Meter, cols map[int64]string, areas map[int64]string) meterJSON {
	v := meterJSON{Meter: m, Collector: cols[m.CollectorID], Area: areas[m.AreaID]}
	var best *amigo.Reading
	for _, k := range []string{amigo.KindRealtime, amigo.KindDaily} {
		if rd, err := s.store.LastReading(r.Context(), m.ID, k); err == nil && (best == nil || rd.Time.After(best.Time)) {
			best = &rd
		}
	}
	if best != nil {
		v.LastReading = &lastReading{Time: best.Time, Kind: best.Kind, ForwardActiveKWh: best.Forward[0].String()}
	}
	return v
}

func (s *Server) names(r *http.Request) (map[int64]string, map[int64]string) {
	cols, areas := map[int64]string{}, map[int64]string{}
	if cs, err := s.store.ListCollectors(r.Context(), 0); err == nil {
		for _, c := range cs {
			cols[c.ID] = c.Address
		}
	}
	if as, err := s.store.ListAreas(r.Context(), 0); err == nil {
		for _, a := range as {
			areas[a.ID] = a.Name
		}
	}
	return cols, areas
}

func (s *Server) listMeters(w http.ResponseWriter, r *http.Request, _ principal) {
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	f := amigo.MeterFilter{SiteID: queryID(r, "site"), AreaID: queryID(r, "area"), CollectorID: queryID(r, "collector"), Status: r.URL.Query().Get("status"),
		IncludeRetired: retired(r), Limit: limit, Offset: offset}
	ms, total, err := s.store.ListMeters(r.Context(), f)
	if err != nil {
		writeErr(w, err)
		return
	}
	cols, areas := s.names(r)
	items := make([]meterJSON, 0, len(ms))
	for _, m := range ms {
		items = append(items, s.meterView(r, m, cols, areas))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total})
}

func (s *Server) meter(w http.ResponseWriter, r *http.Request) (amigo.Meter, bool) {
	m, err := s.store.FindMeterByAddress(r.Context(), r.PathValue("address"))
	if err != nil {
		writeErr(w, err)
		return m, false
	}
	return m, true
}

func (s *Server) getMeter(w http.ResponseWriter, r *http.Request, _ principal) {
	m, ok := s.meter(w, r)
	if !ok {
		return
	}
	cols, areas := s.names(r)
	writeJSON(w, http.StatusOK, s.meterView(r, m, cols, areas))
}

func (s *Server) siteLoc(r *http.Request, siteID int64) *time.Location {
	if site, err := s.store.GetSite(r.Context(), siteID); err == nil {
		return site.Location()
	}
	return amigo.Site{}.Location()
}

type readingJSON struct {
	Time              time.Time `json:"time"`
	Kind              string    `json:"kind"`
	Quality           string    `json:"quality"`
	Flags             int       `json:"flags"`
	ForwardActiveKWh  string    `json:"forward_active_kwh"`
	ForwardTariffsKWh []string  `json:"forward_tariffs_kwh"`
	ReverseActiveKWh  *string   `json:"reverse_active_kwh"`
	PowerW            *int64    `json:"power_w,omitempty"`
	VoltageV          *string   `json:"voltage_v,omitempty"`
	Source            string    `json:"source"`
}

// maxReadingsDays bounds a readings query: 92 days of 15-minute readings
// are 92 × 96 = 8832 rows, about 2 MB of JSON.
const (
	maxReadingsDays  = 92
	maxReadingsRange = maxReadingsDays*24*time.Hour + 2*time.Hour // a DST day's slack
)

func (s *Server) readings(w http.ResponseWriter, r *http.Request, _ principal) {
	m, ok := s.meter(w, r)
	if !ok {
		return
	}
	loc := s.siteLoc(r, m.SiteID)
	now := s.now()
	from, err := parseTime(r.URL.Query().Get("from"), loc, now.AddDate(0, 0, -31))
	if err != nil {
		writeErr(w, err)
		return
	}
	to, err := parseTime(r.URL.Query().Get("to"), loc, now.Add(time.Hour))
	if err != nil {
		writeErr(w, err)
		return
	}
	if !from.Before(to) || to.Sub(from) > maxReadingsRange {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "readings", "from must be before to, at most %d days apart / 开始时间应早于结束时间，且相差不超过%d天", maxReadingsDays, maxReadingsDays))
		return
	}
	kind := r.URL.Query().Get("kind")
	if kind == "day" {
		kind = amigo.KindDaily
	}
	rs, err := s.store.ListReadings(r.Context(), m.ID, kind, from, to)
	if err != nil {
		writeErr(w, err)
		return
	}
	items := make([]readingJSON, 0, len(rs))
	for _, x := range rs {
		j := readingJSON{Time: x.Time, Kind: x.Kind, Quality: x.Quality, Flags: x.Flags, ForwardActiveKWh: x.Forward[0].String(), PowerW: x.PowerW, Source: x.Source}
		for _, t := range x.Forward[1:] {
			j.ForwardTariffsKWh = append(j.ForwardTariffsKWh, t.String())
		}
		if x.HasReverse {
			v := x.Reverse[0].String()
			j.ReverseActiveKWh = &v
		}
		if x.VoltageDV != nil {
			v := fmt.Sprintf("%d.%d", *x.VoltageDV/10, *x.VoltageDV%10)
			j.VoltageV = &v
		}
		items = append(items, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// consumptionQuery reads interval (day, default, or month), from and to
// (site days; default the last 30 days) and checks the range before
// anything is read: at most analysis.MaxDays days or MaxMonths months.
func (s *Server) consumptionQuery(r *http.Request, loc *time.Location) (string, time.Time, time.Time, error) {
	interval := r.URL.Query().Get("interval")
	if interval == "" {
		interval = "day"
	}
	today := amigo.Day(s.now(), loc)
	from, err := parseTime(r.URL.Query().Get("from"), loc, today.AddDate(0, 0, -30))
	if err != nil {
		return "", from, from, err
	}
	to, err := parseTime(r.URL.Query().Get("to"), loc, today)
	if err != nil {
		return "", from, to, err
	}
	from, to, err = analysis.Range(interval, from, to, loc)
	return interval, from, to, err
}

// ratioJSON says which side a meter's figures are on: register advance ×
// CT × PT = primary kWh.
type ratioJSON struct {
	Meter       string     `json:"meter"`
	CT          int        `json:"ct"`
	PT          int        `json:"pt"`
	Multiplier  int64      `json:"multiplier"`
	InstalledAt time.Time  `json:"installed_at,omitzero"`
	RemovedAt   *time.Time `json:"removed_at,omitempty"`
}

func ratioOf(m amigo.Meter) ratioJSON {
	j := ratioJSON{Meter: m.Address, CT: max(m.CTRatio, 1), PT: max(m.PTRatio, 1), Multiplier: analysis.Multiplier(m), InstalledAt: m.InstalledAt}
	if !m.RemovedAt.IsZero() {
		j.RemovedAt = &m.RemovedAt
	}
	return j
}

// consumption is a meter's consumption per day or month, primary side
// (register advance × CT × PT), forward per tariff and reverse; the raw
// registers stay as read (the readings endpoint).
func (s *Server) consumption(w http.ResponseWriter, r *http.Request, _ principal) {
	m, ok := s.meter(w, r)
	if !ok {
		return
	}
	loc := s.siteLoc(r, m.SiteID)
	interval, from, to, err := s.consumptionQuery(r, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	segs, err := analysis.LoadSegments(r.Context(), s.store, []amigo.Meter{m}, interval, from, to, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	pts, err := analysis.Consumption(segs, interval, from, to, loc)
	if err != nil {
		writeErr(w, err)
		return
	}
	ratio := ratioOf(m)
	writeJSON(w, http.StatusOK, map[string]any{"meter": m.Address, "interval": interval, "unit": "kWh", "side": "primary",
		"ct": ratio.CT, "pt": ratio.PT, "multiplier": ratio.Multiplier, "time_zone": loc.String(), "items": pts})
}

// commandInput is the body of POST /api/v1/meters/{address}/commands.
type commandInput struct {
	Type string `json:"type"`
}

func (s *Server) createCommand(w http.ResponseWriter, r *http.Request, p principal) {
	m, ok := s.meter(w, r)
	if !ok {
		return
	}
	var in commandInput
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	c, err := s.cmd.Submit(r.Context(), m.ID, in.Type, p.User)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": c.ID, "status": c.Status})
}

func (s *Server) getCommand(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "command", "command id must be a number / 命令编号应为数字"))
		return
	}
	c, err := s.store.GetCommand(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) listCollectors(w http.ResponseWriter, r *http.Request, _ principal) {
	cs, err := s.store.ListCollectorsBy(r.Context(), amigo.ArchiveFilter{SiteID: queryID(r, "site"), IncludeRetired: retired(r)})
	if err != nil {
		writeErr(w, err)
		return
	}
	if cs == nil {
		cs = []amigo.Collector{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": cs, "total": len(cs)})
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	since, err := parseTime(r.URL.Query().Get("since"), amigo.Site{}.Location(), time.Time{})
	if err != nil {
		writeErr(w, err)
		return
	}
	f := amigo.EventFilter{Kind: r.URL.Query().Get("kind"), CollectorID: queryID(r, "collector"), Since: since, Limit: limit, Offset: offset}
	if a := r.URL.Query().Get("meter"); a != "" {
		m, err := s.store.FindMeterByAddress(r.Context(), a)
		if err != nil {
			writeErr(w, err)
			return
		}
		f.MeterID = m.ID
	}
	es, total, err := s.store.ListEvents(r.Context(), f)
	if err != nil {
		writeErr(w, err)
		return
	}
	if es == nil {
		es = []amigo.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": es, "total": total})
}

// listAreas lists areas with the line loss of a day (site zone), computed
// by the same code the station judges with (analysis.AreaLoss).
func (s *Server) listAreas(w http.ResponseWriter, r *http.Request, _ principal) {
	as, err := s.store.ListAreas(r.Context(), queryID(r, "site"))
	if err != nil {
		writeErr(w, err)
		return
	}
	type areaJSON struct {
		amigo.Area
		Day      string        `json:"day"`
		LineLoss analysis.Loss `json:"line_loss"`
	}
	items := []areaJSON{}
	for _, a := range as {
		loc := s.siteLoc(r, a.SiteID)
		day, err := parseTime(r.URL.Query().Get("day"), loc, amigo.Day(s.now(), loc).AddDate(0, 0, -1))
		if err != nil {
			writeErr(w, err)
			return
		}
		day = amigo.Day(day, loc)
		loss, err := analysis.AreaLoss(r.Context(), s.store, a, day, loc)
		if err != nil {
			writeErr(w, err)
			return
		}
		items = append(items, areaJSON{Area: a, Day: day.Format("2006-01-02"), LineLoss: loss})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func (s *Server) successRates(w http.ResponseWriter, r *http.Request, _ principal) {
	sites, err := s.store.ListSites(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	type group struct {
		Kind string `json:"kind"` // site, area, collector
		ID   int64  `json:"id"`
		Name string `json:"name"`
		analysis.Rate
	}
	var items []group
	for _, site := range sites {
		loc := site.Location()
		day, err := parseTime(r.URL.Query().Get("day"), loc, amigo.Day(s.now(), loc).AddDate(0, 0, -1))
		if err != nil {
			writeErr(w, err)
			return
		}
		day = amigo.Day(day, loc)
		ms, _, err := s.store.ListMeters(r.Context(), amigo.MeterFilter{SiteID: site.ID, IncludeRetired: true})
		if err != nil {
			writeErr(w, err)
			return
		}
		ids := make([]int64, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		have, err := s.store.ReadingTimes(r.Context(), ids, amigo.KindDaily, day, day.AddDate(0, 0, 1).Add(time.Hour))
		if err != nil {
			writeErr(w, err)
			return
		}
		items = append(items, group{"site", site.ID, site.Name, analysis.SuccessRate(ms, have, day, loc)})
		cols, areas := s.names(r)
		byArea, byCol := map[int64][]amigo.Meter{}, map[int64][]amigo.Meter{}
		for _, m := range ms {
			byArea[m.AreaID] = append(byArea[m.AreaID], m)
			byCol[m.CollectorID] = append(byCol[m.CollectorID], m)
		}
		// Meters in no area or read directly (GPRS) count in the site's row
		// only: there is no area or collector 0 to show. Rows are in id
		// order, so the answer is stable.
		for _, id := range slices.Sorted(maps.Keys(byArea)) {
			if id != 0 {
				items = append(items, group{"area", id, areas[id], analysis.SuccessRate(byArea[id], have, day, loc)})
			}
		}
		for _, id := range slices.Sorted(maps.Keys(byCol)) {
			if id != 0 {
				items = append(items, group{"collector", id, cols[id], analysis.SuccessRate(byCol[id], have, day, loc)})
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// metricsGuarded serves /metrics, behind Options.MetricsToken when set
// (compared in constant time).
func (s *Server) metricsGuarded(w http.ResponseWriter, r *http.Request) {
	if want := s.opts.MetricsToken; want != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		g, h := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
		if !ok || subtle.ConstantTimeCompare(g[:], h[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeErr(w, amigo.Errorf(amigo.EUNAUTHORIZED, "metrics", "metrics need Authorization: Bearer <metrics_token> / 指标需要令牌"))
			return
		}
	}
	s.metrics(w, r)
}

// metrics writes a few gauges in the Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, st := range []string{amigo.StatusOnline, amigo.StatusOffline, amigo.StatusFaulty, amigo.StatusUnknown} {
		_, n, err := s.store.ListMeters(r.Context(), amigo.MeterFilter{Status: st, Limit: 1})
		if err == nil {
			fmt.Fprintf(w, "amigo_meters{status=%q} %d\n", st, n)
		}
	}
	if cs, err := s.store.ListCollectors(r.Context(), 0); err == nil {
		on := 0
		for _, c := range cs {
			if c.Status == amigo.StatusOnline {
				on++
			}
		}
		fmt.Fprintf(w, "amigo_collectors %d\namigo_collectors_online %d\n", len(cs), on)
	}
	if _, n, err := s.store.ListEvents(r.Context(), amigo.EventFilter{Limit: 1}); err == nil {
		fmt.Fprintf(w, "amigo_events_total %d\n", n)
	}
}
