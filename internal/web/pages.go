package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

// Optional queries of the stores (internal/sqlstore): the pages use them
// when the store has them.
type commandLister interface {
	MeterCommands(ctx context.Context, meterID int64, limit int) ([]amigo.Command, error)
}
type meterSearcher interface {
	MetersByAddressPrefix(ctx context.Context, prefix string, limit int) ([]amigo.Meter, error)
}
type statusCounter interface {
	StatusCounts(ctx context.Context) (meters, collectors map[string]int, err error)
}

func (s *Server) routes() {
	m := s.mux
	static, _ := fsSub(files, "static")
	fileServer := http.FileServerFS(static)
	m.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})))
	m.HandleFunc("GET /lang/{l}", s.setLang)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.loginPost)
	m.HandleFunc("POST /logout", s.authed(s.logout))
	m.HandleFunc("GET /{$}", s.authed(s.dashboard))
	m.HandleFunc("GET /meters", s.authed(s.meters))
	m.HandleFunc("GET /meters/{address}", s.authed(s.meterPage))
	m.HandleFunc("GET /meters/{address}/live", s.authed(s.meterLive))
	m.HandleFunc("GET /meters/{address}/confirm", s.authed(s.confirmCommand))
	m.HandleFunc("POST /meters/{address}/commands", s.authed(s.postCommand))
	m.HandleFunc("GET /collectors", s.authed(s.collectors))
	m.HandleFunc("GET /areas", s.authed(s.areas))
	m.HandleFunc("GET /archive", s.authed(s.archive))
	m.HandleFunc("GET /archive/export/{kind}", s.authed(s.export))
	m.HandleFunc("POST /archive/import", s.authed(s.importCSV))
	m.HandleFunc("GET /audit", s.authed(s.audit))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		v := &view{L: langOf(r), Err: langOf(r).T("err_notfound")}
		s.render(w, r, http.StatusNotFound, "error", v)
	})
}

// setLang remembers the language for a year and goes back.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.PathValue("l")
	if l != "zh" && l != "en" {
		l = "zh"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", &view{L: langOf(r), Data: map[string]string{"Next": localPath(r.URL.Query().Get("next"))}})
}

// loginPost logs in through the API's login (its limits per source and
// account, its audit) and keeps the token in the session cookie.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	next := localPath(r.PostFormValue("next"))
	user := r.PostFormValue("username")
	b, _ := json.Marshal(map[string]string{"username": user, "password": r.PostFormValue("password")})
	code, body := s.apiCall(r, "", http.MethodPost, "/api/v1/login", strings.NewReader(string(b)), "application/json")
	var ok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	if code == http.StatusOK {
		json.Unmarshal(body, &ok)
	}
	if code != http.StatusOK || ok.Token == "" || ok.Role == amigo.RoleCustomer {
		msg := apiError(l, code, body).Error()
		if ok.Role == amigo.RoleCustomer {
			msg = l.T("err_login")
		}
		s.render(w, r, statusFor(code), "login", &view{L: l, Err: msg, Data: map[string]string{"Next": next, "User": user}})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: ok.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func statusFor(code int) int {
	if code/100 == 2 {
		return http.StatusBadRequest
	}
	return code
}

// logout ends every session of the user (the API raises its token
// generation) and drops the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, se session, v *view) {
	s.apiCall(r, se.Token, http.MethodPost, "/api/v1/logout", nil, "")
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fail renders an error page for err (an API refusal keeps its status).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code := http.StatusInternalServerError
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		code, v.Err = pe.Code, pe.Msg
	case amigo.ErrorKind(err) == amigo.ENOTFOUND:
		code, v.Err = http.StatusNotFound, v.L.T("err_notfound")
	case amigo.ErrorKind(err) == amigo.EINVALID:
		code, v.Err = http.StatusBadRequest, v.L.Pick(amigo.ErrorMessage(err))
	default:
		s.cfg.Log.Error("web: page", "path", r.URL.Path, "err", err)
		v.Err = v.L.Pick("internal error / 内部错误")
	}
	s.render(w, r, code, "error", v)
}

// Dashboard.

type areaLoss struct {
	amigo.Area
	Day      string        `json:"day"`
	LineLoss analysis.Loss `json:"line_loss"`
}

type rateRow struct {
	Kind string `json:"kind"`
	ID   int64  `json:"id"`
	Name string `json:"name"`
	analysis.Rate
}

type dashData struct {
	Meters, Collectors map[string]int
	Rates              []rateRow
	Areas              []areaLoss
	Today, Yesterday   *amigo.Energy
	Alarms             []amigo.Event
	AlarmTotal         int
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, se session, v *view) {
	ctx := r.Context()
	v.Nav, v.Title = "dashboard", v.L.T("dashboard")
	var d dashData
	var err error
	if sc, ok := s.cfg.Store.(statusCounter); ok {
		d.Meters, d.Collectors, err = sc.StatusCounts(ctx)
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
	}
	var rates struct{ Items []rateRow }
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/success-rates", nil, &rates); err != nil {
		s.fail(w, r, v, err)
		return
	}
	for _, x := range rates.Items {
		if x.Kind == "site" {
			d.Rates = append(d.Rates, x)
		}
	}
	var areas struct{ Items []areaLoss }
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/areas", nil, &areas); err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Areas = areas.Items
	d.Today, d.Yesterday = s.supplyEnergy(ctx, areas.Items)
	since := s.cfg.Now().Add(-24 * time.Hour)
	if d.Alarms, d.AlarmTotal, err = s.cfg.Store.ListEvents(ctx, amigo.EventFilter{Since: since, Limit: 10}); err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "dashboard", v)
}

// supplyEnergy is the energy the areas' supply meters delivered today so
// far (the last real-time registers less today's 00:00 freeze) and
// yesterday (today's freeze less yesterday's), primary side; nil when a
// figure is missing.
func (s *Server) supplyEnergy(ctx context.Context, areas []areaLoss) (today, yesterday *amigo.Energy) {
	var t, y amigo.Energy
	haveT, haveY := false, false
	for _, a := range areas {
		if a.SupplyMeterID == 0 {
			continue
		}
		m, err := s.cfg.Store.GetMeter(ctx, a.SupplyMeterID)
		if err != nil {
			continue
		}
		loc := s.siteLoc(ctx, m.SiteID)
		day := amigo.Day(s.cfg.Now(), loc)
		rs, err := s.cfg.Store.ListReadings(ctx, m.ID, amigo.KindDaily, day.AddDate(0, 0, -1), day.Add(time.Minute))
		if err != nil {
			continue
		}
		var f0, f1 *amigo.Reading
		for i := range rs {
			switch {
			case rs[i].Time.Equal(day.AddDate(0, 0, -1)) && rs[i].HasForward:
				f0 = &rs[i]
			case rs[i].Time.Equal(day) && rs[i].HasForward:
				f1 = &rs[i]
			}
		}
		mult := amigo.Energy(analysis.Multiplier(m))
		if f0 != nil && f1 != nil && f1.Forward[0] >= f0.Forward[0] {
			y += (f1.Forward[0] - f0.Forward[0]) * mult
			haveY = true
		}
		if last, err := s.cfg.Store.LastReading(ctx, m.ID, amigo.KindRealtime); err == nil && f1 != nil && last.HasForward && !last.Time.Before(day) && last.Forward[0] >= f1.Forward[0] {
			t += (last.Forward[0] - f1.Forward[0]) * mult
			haveT = true
		}
	}
	if haveT {
		today = &t
	}
	if haveY {
		yesterday = &y
	}
	return today, yesterday
}

func (s *Server) siteLoc(ctx context.Context, siteID int64) *time.Location {
	if site, err := s.cfg.Store.GetSite(ctx, siteID); err == nil {
		return site.Location()
	}
	return amigo.Site{}.Location()
}

// Meters.

const metersPerPage = 50

type meterRow struct {
	amigo.Meter
	Collector string
	Area      string
	Last      *amigo.Reading
}

type metersData struct {
	Q, Status          string
	Collector, Area    int64
	Rows               []meterRow
	Total, Page, Pages int
	Collectors         []amigo.Collector
	Areas              []amigo.Area
	PrevURL, NextURL   string
	Statuses           []string
}

func (s *Server) meters(w http.ResponseWriter, r *http.Request, se session, v *view) {
	ctx := r.Context()
	v.Nav, v.Title = "meters", v.L.T("meters")
	q := r.URL.Query()
	d := metersData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Statuses: []string{amigo.StatusOnline, amigo.StatusOffline, amigo.StatusFaulty, amigo.StatusUnknown}}
	d.Collector, _ = strconv.ParseInt(q.Get("collector"), 10, 64)
	d.Area, _ = strconv.ParseInt(q.Get("area"), 10, 64)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), 200000)
	if d.Status != "" && !slices.Contains(d.Statuses, d.Status) {
		d.Status = ""
	}
	var ms []amigo.Meter
	var err error
	if d.Q != "" {
		if sr, ok := s.cfg.Store.(meterSearcher); ok {
			ms, err = sr.MetersByAddressPrefix(ctx, d.Q, metersPerPage+1)
		} else {
			var m amigo.Meter
			if m, err = s.cfg.Store.FindMeterByAddress(ctx, d.Q); err == nil {
				ms = []amigo.Meter{m}
			} else if amigo.ErrorKind(err) == amigo.ENOTFOUND {
				err = nil
			}
		}
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		if len(ms) == 1 && ms[0].Address == d.Q && r.Header.Get("HX-Request") != "true" {
			http.Redirect(w, r, "/meters/"+url.PathEscape(d.Q), http.StatusSeeOther)
			return
		}
		d.Total, d.Pages, d.Page = len(ms), 1, 1
		ms = ms[:min(len(ms), metersPerPage)]
	} else {
		ms, d.Total, err = s.cfg.Store.ListMeters(ctx, amigo.MeterFilter{AreaID: d.Area, CollectorID: d.Collector, Status: d.Status, Limit: metersPerPage, Offset: (d.Page - 1) * metersPerPage})
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		d.Pages = max((d.Total+metersPerPage-1)/metersPerPage, 1)
	}
	cols, _ := s.cfg.Store.ListCollectors(ctx, 0)
	areas, _ := s.cfg.Store.ListAreas(ctx, 0)
	d.Collectors, d.Areas = cols, areas
	colName, areaName := map[int64]string{}, map[int64]string{}
	for _, c := range cols {
		colName[c.ID] = c.Address
	}
	for _, a := range areas {
		areaName[a.ID] = a.Name
	}
	for _, m := range ms {
		row := meterRow{Meter: m, Collector: colName[m.CollectorID], Area: areaName[m.AreaID]}
		if rd, err := s.cfg.Store.LastReading(ctx, m.ID, amigo.KindRealtime); err == nil {
			row.Last = &rd
		}
		d.Rows = append(d.Rows, row)
	}
	page := func(p int) string {
		u := url.Values{}
		for k, val := range map[string]string{"q": d.Q, "status": d.Status} {
			if val != "" {
				u.Set(k, val)
			}
		}
		if d.Collector != 0 {
			u.Set("collector", strconv.FormatInt(d.Collector, 10))
		}
		if d.Area != 0 {
			u.Set("area", strconv.FormatInt(d.Area, 10))
		}
		u.Set("page", strconv.Itoa(p))
		return "/meters?" + u.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = page(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = page(d.Page + 1)
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "meters", v)
}

// A meter's page.

type meterData struct {
	M         amigo.Meter
	Collector string
	Area      string
	Site      string
	Realtime  *amigo.Reading
	Daily     *amigo.Reading
	Events    []amigo.Event
	Commands  []amigo.Command
	DayChart  template.JS
	MonChart  template.JS
	Types     []string
	Accepted  string
}

// chart is the data of a bar chart: x as Unix seconds, y in kWh (null for
// a gap).
type chart struct {
	X []int64    `json:"x"`
	Y []*float64 `json:"y"`
}

func (s *Server) meterData(r *http.Request, se session, v *view, withCharts bool) (meterData, error) {
	ctx := r.Context()
	m, err := s.cfg.Store.FindMeterByAddress(ctx, r.PathValue("address"))
	if err != nil {
		return meterData{}, err
	}
	d := meterData{M: m, Types: []string{amigo.CmdRead, amigo.CmdDisconnect, amigo.CmdReconnect, amigo.CmdTimeSync}}
	if m.CollectorID != 0 {
		if c, err := s.cfg.Store.GetCollector(ctx, m.CollectorID); err == nil {
			d.Collector = c.Address
		}
	}
	if m.AreaID != 0 {
		for _, a := range mustAreas(s.cfg.Store.ListAreas(ctx, m.SiteID)) {
			if a.ID == m.AreaID {
				d.Area = a.Name
			}
		}
	}
	if site, err := s.cfg.Store.GetSite(ctx, m.SiteID); err == nil {
		d.Site = site.Name
	}
	if rd, err := s.cfg.Store.LastReading(ctx, m.ID, amigo.KindRealtime); err == nil {
		d.Realtime = &rd
	}
	if rd, err := s.cfg.Store.LastReading(ctx, m.ID, amigo.KindDaily); err == nil {
		d.Daily = &rd
	}
	if cl, ok := s.cfg.Store.(commandLister); ok {
		if d.Commands, err = cl.MeterCommands(ctx, m.ID, 10); err != nil {
			return d, err
		}
	}
	if !withCharts {
		return d, nil
	}
	if d.Events, _, err = s.cfg.Store.ListEvents(ctx, amigo.EventFilter{MeterID: m.ID, Limit: 10}); err != nil {
		return d, err
	}
	loc := s.siteLoc(ctx, m.SiteID)
	today := amigo.Day(s.cfg.Now(), loc)
	esc := url.PathEscape(m.Address)
	day, err := s.consumption(r, se, v, "/api/v1/meters/"+esc+"/consumption?interval=day&from="+today.AddDate(0, 0, -90).Format("2006-01-02")+"&to="+today.Format("2006-01-02"))
	if err != nil {
		return d, err
	}
	month0 := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	mon, err := s.consumption(r, se, v, "/api/v1/meters/"+esc+"/consumption?interval=month&from="+month0.AddDate(0, -23, 0).Format("2006-01-02")+"&to="+today.AddDate(0, 0, 1).Format("2006-01-02"))
	if err != nil {
		return d, err
	}
	d.DayChart, d.MonChart = day, mon
	return d, nil
}

func mustAreas(as []amigo.Area, _ error) []amigo.Area { return as }

// consumption reads the API's consumption figures as chart data.
func (s *Server) consumption(r *http.Request, se session, v *view, path string) (template.JS, error) {
	var res struct {
		Items []analysis.Point `json:"items"`
	}
	if err := s.apiJSON(r, se, v.L, "GET", path, nil, &res); err != nil {
		return "", err
	}
	c := chart{X: []int64{}, Y: []*float64{}}
	for _, p := range res.Items {
		c.X = append(c.X, p.Start.Unix())
		if p.Energy != nil {
			f := float64(*p.Energy) / 10000
			c.Y = append(c.Y, &f)
		} else {
			c.Y = append(c.Y, nil)
		}
	}
	b, _ := json.Marshal(c)
	return template.JS(b), nil
}

func (s *Server) meterPage(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "meters"
	d, err := s.meterData(r, se, v, true)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Accepted = r.URL.Query().Get("accepted")
	v.Title = v.L.T("meter") + " " + d.M.Address
	v.Data = d
	s.render(w, r, http.StatusOK, "meter", v)
}

// meterLive is the part of a meter's page that changes while a command
// runs (relay, registers, commands): the page asks for it every few
// seconds.
func (s *Server) meterLive(w http.ResponseWriter, r *http.Request, se session, v *view) {
	d, err := s.meterData(r, se, v, false)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = d
	r.Header.Set("HX-Request", "true")
	r.Header.Set("HX-Target", "live")
	s.render(w, r, http.StatusOK, "meter", v)
}

func (s *Server) confirmCommand(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "meters"
	m, err := s.cfg.Store.FindMeterByAddress(r.Context(), r.PathValue("address"))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	typ := r.URL.Query().Get("type")
	switch typ {
	case amigo.CmdRead, amigo.CmdDisconnect, amigo.CmdReconnect, amigo.CmdTimeSync:
	default:
		s.fail(w, r, v, amigo.Errorf(amigo.EINVALID, "command", "unknown command type %q / 未知命令类型", truncate(typ, 20)))
		return
	}
	v.Title = v.L.T("confirm")
	v.Data = map[string]string{"Address": m.Address, "Type": typ}
	s.render(w, r, http.StatusOK, "confirm", v)
}

// postCommand asks for a command through the API (stored, audited, sent
// by the engine) and shows the meter with it.
func (s *Server) postCommand(w http.ResponseWriter, r *http.Request, se session, v *view) {
	addr := r.PathValue("address")
	var res struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if err := s.apiJSON(r, se, v.L, "POST", "/api/v1/meters/"+url.PathEscape(addr)+"/commands", map[string]string{"type": r.PostFormValue("type")}, &res); err != nil {
		s.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/meters/"+url.PathEscape(addr)+"?accepted="+strconv.FormatInt(res.ID, 10), http.StatusSeeOther)
}

// Collectors.

type collectorRow struct {
	amigo.Collector
	Meters int
	Rate   *analysis.Rate
}

func (s *Server) collectors(w http.ResponseWriter, r *http.Request, se session, v *view) {
	ctx := r.Context()
	v.Nav, v.Title = "collectors", v.L.T("collectors")
	cs, err := s.cfg.Store.ListCollectors(ctx, 0)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var rates struct{ Items []rateRow }
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/success-rates", nil, &rates); err != nil {
		s.fail(w, r, v, err)
		return
	}
	byID := map[int64]*analysis.Rate{}
	for i, x := range rates.Items {
		if x.Kind == "collector" {
			byID[x.ID] = &rates.Items[i].Rate
		}
	}
	var rows []collectorRow
	for _, c := range cs {
		_, n, err := s.cfg.Store.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, Limit: 1})
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		rows = append(rows, collectorRow{Collector: c, Meters: n, Rate: byID[c.ID]})
	}
	v.Data = rows
	s.render(w, r, http.StatusOK, "collectors", v)
}

// Areas.

type areaRow struct {
	areaLoss
	Supply string
	Chart  template.JS
}

// lossDays is how many days the areas' line-loss chart shows.
const lossDays = 14

func (s *Server) areas(w http.ResponseWriter, r *http.Request, se session, v *view) {
	ctx := r.Context()
	v.Nav, v.Title = "areas", v.L.T("areas")
	now := s.cfg.Now()
	type series struct {
		X    []int64    `json:"x"`
		Y    []*float64 `json:"y"`
		Low  float64    `json:"low"`
		High float64    `json:"high"`
	}
	byArea := map[int64]*series{}
	var rows []areaRow
	for i := lossDays; i >= 1; i-- {
		day := now.AddDate(0, 0, -i).Format("2006-01-02")
		var res struct{ Items []areaLoss }
		if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/areas?day="+day, nil, &res); err != nil {
			s.fail(w, r, v, err)
			return
		}
		for _, a := range res.Items {
			sr := byArea[a.ID]
			if sr == nil {
				sr = &series{X: []int64{}, Y: []*float64{}, Low: a.LossLow, High: a.LossHigh}
				byArea[a.ID] = sr
			}
			t, _ := time.ParseInLocation("2006-01-02", a.Day, s.siteLoc(ctx, a.SiteID))
			sr.X = append(sr.X, t.Unix())
			var y *float64
			if a.LineLoss.Complete {
				y = a.LineLoss.Percent
			}
			sr.Y = append(sr.Y, y)
			if i == 1 {
				row := areaRow{areaLoss: a}
				if a.SupplyMeterID != 0 {
					if m, err := s.cfg.Store.GetMeter(ctx, a.SupplyMeterID); err == nil {
						row.Supply = m.Address
					}
				}
				rows = append(rows, row)
			}
		}
	}
	for i := range rows {
		b, _ := json.Marshal(byArea[rows[i].ID])
		rows[i].Chart = template.JS(b)
	}
	v.Data = rows
	s.render(w, r, http.StatusOK, "areas", v)
}

// The archive: export and import through the API.

var archiveKinds = []string{"sites", "collectors", "areas", "meters", "users"}

func (s *Server) archive(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav, v.Title = "archive", v.L.T("archive")
	v.Data = map[string]any{"Kinds": archiveKinds, "Imported": r.URL.Query().Get("imported"), "Kind": r.URL.Query().Get("kind")}
	s.render(w, r, http.StatusOK, "archive", v)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, se session, v *view) {
	kind := r.PathValue("kind")
	if !slices.Contains(archiveKinds, kind) {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "export", "no such kind"))
		return
	}
	code, b := s.apiCall(r, se.Token, "GET", "/api/v1/export/"+kind, nil, "")
	if code != http.StatusOK {
		v.Nav = "archive"
		s.fail(w, r, v, apiError(v.L, code, b))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": kind + ".csv"}))
	w.Write(b)
}

func (s *Server) importCSV(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "archive"
	kind := r.PostFormValue("kind")
	if !slices.Contains(archiveKinds, kind) {
		s.fail(w, r, v, amigo.Errorf(amigo.EINVALID, "import", "kind must be one of %s / 类别应为 %s", strings.Join(archiveKinds, ", "), strings.Join(archiveKinds, ", ")))
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		s.fail(w, r, v, amigo.Errorf(amigo.EINVALID, "import", "file: choose a CSV file / file：请选择 CSV 文件"))
		return
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		s.fail(w, r, v, amigo.Errorf(amigo.EINVALID, "import", "file: %v / 文件读取失败", err))
		return
	}
	code, b := s.apiCall(r, se.Token, "POST", "/api/v1/import/"+kind, strings.NewReader(string(body)), "text/csv")
	if code/100 != 2 {
		s.fail(w, r, v, apiError(v.L, code, b))
		return
	}
	var res struct {
		Created int `json:"created"`
	}
	json.Unmarshal(b, &res)
	http.Redirect(w, r, "/archive?kind="+kind+"&imported="+strconv.Itoa(res.Created), http.StatusSeeOther)
}

// The audit log.

func (s *Server) audit(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav, v.Title = "audit", v.L.T("audit")
	es, err := s.cfg.Store.ListAudit(r.Context(), 200)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = es
	s.render(w, r, http.StatusOK, "audit", v)
}

// Formatting for the templates.

// fmtKWh writes an energy (0.0001 kWh) with two decimals ("—" for nil).
func fmtKWh(e any) string {
	switch x := e.(type) {
	case amigo.Energy:
		return fmt2(int64(x))
	case *amigo.Energy:
		if x == nil {
			return "—"
		}
		return fmt2(int64(*x))
	}
	return "—"
}

// fmt2 rounds 0.0001 kWh to 0.01 kWh, half away from zero.
func fmt2(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	c := (v + 50) / 100
	s := fmt.Sprintf("%d.%02d", c/100, c%100)
	if neg {
		s = "-" + s
	}
	return s
}

func fmtPct(p any) string {
	switch x := p.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64) + " %"
	case *float64:
		if x == nil {
			return "—"
		}
		return strconv.FormatFloat(*x, 'f', 2, 64) + " %"
	}
	return "—"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(amigo.Site{}.Location()).Format("2006-01-02 15:04:05")
}

func toJSON(v any) template.JS {
	b, _ := json.Marshal(v)
	return template.JS(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var _ = path.Join
