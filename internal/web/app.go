package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/internal/archive"
)

// The customer's app at /app/: a phone-first installable web app. A
// customer logs in with the account number and a password; the login is a
// user of role customer named CustomerUsername(number), so the API's
// login (its limits, its audit) and its tokens (user and token
// generation) serve the app as they serve the operators. The desk (or
// `amigo demo`) makes the login with a one-time set-up code
// (EnsureCustomerLogin); the first login asks for a password of the
// customer's own. Every page names the account's id in its path; any
// other account's id answers 404.

// order is an online payment order as the API answers it.
type order struct {
	No        string    `json:"order_no"`
	AccountID int64     `json:"account_id"`
	AmountFen amigo.Fen `json:"amount_fen"`
	State     string    `json:"state"`
	CodeURL   string    `json:"code_url"`
}

// Switcher switches an account's supply at its customer's request
// (wallet.CustomerSwitch: a switch-on is refused while the supply is cut
// for arrears).
type Switcher func(ctx context.Context, accountID int64, on bool, by string) ([]amigo.Command, error)

// CustomerUsername is the user a customer logs in as for an account: no
// staff username has a ':'.
func CustomerUsername(accountNumber string) string { return "acct:" + accountNumber }

// setupKey is the state key that marks a customer login whose password is
// still the one-time set-up code.
func setupKey(userID int64) string { return fmt.Sprintf("web/setup/%d", userID) }

// EnsureCustomerLogin makes the app login of an account (a user of role
// customer) with a new one-time set-up code, which it returns; an account
// whose login exists gets no new code ("" and no error) unless reset. The
// code is good for the first login only, which asks for a new password.
func EnsureCustomerLogin(ctx context.Context, st amigo.Store, accountNumber, actor string, reset bool, now time.Time) (string, error) {
	a, err := st.FindAccountByNumber(ctx, accountNumber)
	if err != nil {
		return "", fmt.Errorf("customer login: account %s: %w", accountNumber, err)
	}
	name := CustomerUsername(a.Number)
	u, err := st.FindUserByUsername(ctx, name)
	exists := err == nil
	if err != nil && amigo.ErrorKind(err) != amigo.ENOTFOUND {
		return "", err
	}
	if exists && !reset {
		return "", nil
	}
	code := setupCode()
	hash, err := archive.HashPassword(code)
	if err != nil {
		return "", err
	}
	err = st.WithTx(ctx, func(tx amigo.Store) error {
		if exists {
			u.PasswordHash = hash
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		} else {
			u = amigo.User{Username: name, PasswordHash: hash, Role: amigo.RoleCustomer, CustomerID: a.CustomerID}
			if err := tx.CreateUser(ctx, &u); err != nil {
				return err
			}
		}
		if err := tx.PutState(ctx, setupKey(u.ID), "1", now); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: actor, Action: "customer_login.setup", Object: "account " + a.Number, Detail: "one-time set-up code issued / 已发放首次登录码"})
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// setupCode is 10 characters from an alphabet without look-alikes.
func setupCode() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

const appCookie = "amigo_app"

// custSession is the logged-in customer of a request.
type custSession struct {
	Token   string
	UserID  int64
	User    string
	Account amigo.Account
}

// customer wraps an app page: a customer's session (its account), the
// first-login set-up done, the account of the path the session's own
// (404 otherwise), and the form token on a POST.
func (s *Server) customer(setup bool, h func(w http.ResponseWriter, r *http.Request, cs custSession, v *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := langOf(r)
		cs, err := s.custSession(r)
		if err != nil {
			if amigo.ErrorKind(err) == amigo.EUNAVAILABLE {
				http.Error(w, "store unavailable / 数据库不可用", http.StatusServiceUnavailable)
				return
			}
			http.Redirect(w, r, "/app/login", http.StatusSeeOther)
			return
		}
		v := &view{L: l, User: cs.Account.Number, CSRF: s.csrf(cs.Token), Home: appHome(cs.Account.ID)}
		if _, pending, err := s.cfg.Store.GetState(r.Context(), setupKey(cs.UserID)); err != nil {
			s.appFail(w, r, v, err)
			return
		} else if pending != setup {
			if pending {
				http.Redirect(w, r, "/app/setup", http.StatusSeeOther)
			} else {
				http.Redirect(w, r, appHome(cs.Account.ID), http.StatusSeeOther)
			}
			return
		}
		if p := r.PathValue("id"); p != "" {
			if id, err := strconv.ParseInt(p, 10, 64); err != nil || id != cs.Account.ID {
				// Another account's page: as if it did not exist.
				v.Err = l.T("err_notfound")
				s.render(w, r, http.StatusNotFound, "app_error", v)
				return
			}
		}
		if r.Method == http.MethodPost && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(v.CSRF)) {
			v.Err = l.T("err_csrf")
			s.render(w, r, http.StatusForbidden, "app_error", v)
			return
		}
		h(w, r, cs, v)
	}
}

// custSession reads the app's cookie: the API's token of a customer's
// user, whose account is the one its name gives.
func (s *Server) custSession(r *http.Request) (custSession, error) {
	c, err := r.Cookie(appCookie)
	if err != nil {
		return custSession{}, err
	}
	cs := custSession{Token: c.Value}
	var role string
	if cs.UserID, cs.User, role, err = s.cfg.Who(r.Context(), c.Value); err != nil {
		return cs, err
	}
	number, ok := strings.CutPrefix(cs.User, "acct:")
	if role != amigo.RoleCustomer || !ok {
		return cs, errors.New("not a customer")
	}
	u, err := s.cfg.Store.GetUser(r.Context(), cs.UserID)
	if err != nil {
		return cs, err
	}
	if cs.Account, err = s.cfg.Store.FindAccountByNumber(r.Context(), number); err != nil {
		return cs, err
	}
	if cs.Account.CustomerID != u.CustomerID {
		return cs, errors.New("the account changed hands")
	}
	return cs, nil
}

func appHome(id int64) string { return "/app/a/" + strconv.FormatInt(id, 10) + "/" }

func (s *Server) appRoutes() {
	m := s.mux
	m.HandleFunc("GET /app/{$}", func(w http.ResponseWriter, r *http.Request) {
		if cs, err := s.custSession(r); err == nil {
			http.Redirect(w, r, appHome(cs.Account.ID), http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/app/login", http.StatusSeeOther)
	})
	m.HandleFunc("GET /app/manifest.webmanifest", s.manifest)
	m.HandleFunc("GET /app/sw.js", func(w http.ResponseWriter, r *http.Request) {
		b, _ := files.ReadFile("static/sw.js")
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	})
	m.HandleFunc("GET /app/offline", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "app_offline", &view{L: langOf(r)})
	})
	m.HandleFunc("GET /app/lang/{l}", s.setLang)
	m.HandleFunc("GET /app/login", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "app_login", &view{L: langOf(r), Data: map[string]string{}})
	})
	m.HandleFunc("POST /app/login", s.appLogin)
	m.HandleFunc("GET /app/setup", s.customer(true, s.appSetupPage))
	m.HandleFunc("POST /app/setup", s.customer(true, s.appSetup))
	m.HandleFunc("POST /app/logout", s.customer(false, s.appLogout))
	m.HandleFunc("GET /app/a/{id}/{$}", s.customer(false, s.appHomePage))
	m.HandleFunc("GET /app/a/{id}/usage", s.customer(false, s.appUsage))
	m.HandleFunc("GET /app/a/{id}/bills", s.customer(false, s.appBills))
	m.HandleFunc("GET /app/a/{id}/bills/{bill}/pdf", s.customer(false, s.appBillPDF))
	m.HandleFunc("GET /app/a/{id}/pay", s.customer(false, s.appPayPage))
	m.HandleFunc("POST /app/a/{id}/pay", s.customer(false, s.appPay))
	m.HandleFunc("GET /app/a/{id}/orders/{no}", s.customer(false, s.appOrder))
	m.HandleFunc("POST /app/a/{id}/orders/{no}/sandbox", s.customer(false, s.appSandboxPay))
	m.HandleFunc("GET /app/a/{id}/history", s.customer(false, s.appHistory))
	m.HandleFunc("GET /app/a/{id}/supply", s.customer(false, s.appSupplyPage))
	m.HandleFunc("POST /app/a/{id}/supply", s.customer(false, s.appSupply))
	m.HandleFunc("GET /app/a/{id}/notices", s.customer(false, s.appNotices))
	m.HandleFunc("/app/", func(w http.ResponseWriter, r *http.Request) {
		v := &view{L: langOf(r), Err: langOf(r).T("err_notfound")}
		s.render(w, r, http.StatusNotFound, "app_error", v)
	})
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	m := map[string]any{
		"name": l.T("app_name"), "short_name": "amigo", "start_url": "/app/", "scope": "/app/", "display": "standalone",
		"background_color": "#f4f6f8", "theme_color": "#1a365d", "lang": map[lang]string{"zh": "zh-CN", "en": "en"}[l],
		"icons": []map[string]string{{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}},
	}
	w.Header().Set("Content-Type", "application/manifest+json")
	json.NewEncoder(w).Encode(m)
}

// appLogin logs a customer in through the API's login (limits per source
// and per account, audit) with the account number.
func (s *Server) appLogin(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	number := strings.TrimSpace(r.PostFormValue("account"))
	b, _ := json.Marshal(map[string]string{"username": CustomerUsername(number), "password": r.PostFormValue("password")})
	code, body := s.apiCall(r, "", http.MethodPost, "/api/v1/login", strings.NewReader(string(b)), "application/json")
	var ok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	if code == http.StatusOK {
		json.Unmarshal(body, &ok)
	}
	if code != http.StatusOK || ok.Role != amigo.RoleCustomer {
		msg := apiError(l, code, body).Error()
		if code == http.StatusOK || code == http.StatusUnauthorized {
			msg, code = l.T("err_app_login"), http.StatusUnauthorized
		}
		s.render(w, r, code, "app_login", &view{L: l, Err: msg, Data: map[string]string{"Account": number}})
		return
	}
	setAppCookie(w, r, ok.Token)
	http.Redirect(w, r, "/app/", http.StatusSeeOther)
}

func setAppCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: appCookie, Value: token, Path: "/app/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600})
}

func (s *Server) appSetupPage(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Title = v.L.T("app_setup")
	s.render(w, r, http.StatusOK, "app_setup", v)
}

// appSetup sets the customer's own password in place of the set-up code
// (the archive's user change: checked, hashed, audited; the old token
// ends), then logs in again with it.
func (s *Server) appSetup(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Title = v.L.T("app_setup")
	pw, again := r.PostFormValue("password"), r.PostFormValue("password2")
	if pw != again {
		v.Err = v.L.T("err_pw_mismatch")
		s.render(w, r, http.StatusBadRequest, "app_setup", v)
		return
	}
	arch := archive.New(s.cfg.Store, s.cfg.Now)
	if _, err := arch.UpdateUser(r.Context(), cs.User, cs.User, archive.UserInput{Password: &pw}); err != nil {
		if amigo.ErrorKind(err) == amigo.EINVALID {
			v.Err = v.L.Pick(amigo.ErrorMessage(err))
			s.render(w, r, http.StatusBadRequest, "app_setup", v)
			return
		}
		s.appFail(w, r, v, err)
		return
	}
	if err := s.cfg.Store.DeleteState(r.Context(), setupKey(cs.UserID)); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	b, _ := json.Marshal(map[string]string{"username": cs.User, "password": pw})
	code, body := s.apiCall(r, "", http.MethodPost, "/api/v1/login", strings.NewReader(string(b)), "application/json")
	var ok struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &ok) != nil || ok.Token == "" {
		http.Redirect(w, r, "/app/login", http.StatusSeeOther)
		return
	}
	setAppCookie(w, r, ok.Token)
	http.Redirect(w, r, appHome(cs.Account.ID), http.StatusSeeOther)
}

func (s *Server) appLogout(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	s.apiCall(r, cs.Token, http.MethodPost, "/api/v1/logout", nil, "")
	http.SetCookie(w, &http.Cookie{Name: appCookie, Value: "", Path: "/app/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/app/login", http.StatusSeeOther)
}

// appFail renders an error in the app's frame.
func (s *Server) appFail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code := http.StatusInternalServerError
	var pe *pageError
	if errors.As(err, &pe) {
		v.Err = pe.Msg
		s.render(w, r, pe.Code, "app_error", v)
		return
	}
	switch k := amigo.ErrorKind(err); k {
	case amigo.ENOTFOUND:
		code, v.Err = http.StatusNotFound, v.L.T("err_notfound")
	case amigo.EINVALID, amigo.EFORBIDDEN, amigo.ECONFLICT, amigo.EUNAVAILABLE, amigo.ETOOMANY:
		code, v.Err = statusOfKind(k), v.L.Pick(amigo.ErrorMessage(err))
	default:
		s.cfg.Log.Error("web: app page", "path", r.URL.Path, "err", err)
		v.Err = v.L.Pick("internal error / 内部错误")
	}
	s.render(w, r, code, "app_error", v)
}

func statusOfKind(k string) int {
	return map[string]int{amigo.EINVALID: 400, amigo.EFORBIDDEN: 403, amigo.ECONFLICT: 409, amigo.EUNAVAILABLE: 503, amigo.ETOOMANY: 429}[k]
}

// accountMeters returns the meters an account pays for, in its order.
func (s *Server) accountMeters(ctx context.Context, a amigo.Account) ([]amigo.Meter, error) {
	var ms []amigo.Meter
	seen := map[int64]bool{}
	for _, am := range a.Meters {
		if seen[am.MeterID] {
			continue
		}
		seen[am.MeterID] = true
		m, err := s.cfg.Store.GetMeter(ctx, am.MeterID)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// homeData is the app's first screen.
type homeData struct {
	A            amigo.Account
	Prepaid      bool
	Due          amigo.Fen // postpaid: what is owed (0 when none)
	DueDate      string    // postpaid, something owed: the newest issued bill's due date
	Supply       string    // on, off, unknown
	TodayKWh     *amigo.Energy
	MonthKWh     *amigo.Energy
	MonthFen     amigo.Fen // this month's deductions and bills
	YesterdayFen *amigo.Fen
	Meters       []amigo.Meter
	Notices      []amigo.Notice
}

func (s *Server) appHomePage(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	ctx := r.Context()
	a := cs.Account
	v.Nav, v.Title = "home", v.L.T("app_home")
	d := homeData{A: a, Prepaid: a.Mode == amigo.ModePrepaid}
	if !d.Prepaid && a.BalanceFen < 0 {
		// The ledger charges each issued bill (a credit note gives it
		// back; a held bill is not charged) and credits each payment: what
		// is owed is what the balance lacks.
		d.Due = -a.BalanceFen
		bs, _, err := s.cfg.Store.ListBills(ctx, amigo.BillFilter{AccountID: a.ID, Status: amigo.BillIssued, Limit: 10})
		if err != nil {
			s.appFail(w, r, v, err)
			return
		}
		for _, b := range bs {
			if b.Kind == amigo.BillKindBill {
				d.DueDate = b.DueDate
				break
			}
		}
	}
	ms, err := s.accountMeters(ctx, a)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	d.Meters = ms
	now := s.cfg.Now()
	d.Supply = a.Supply(ms, now)
	loc := s.siteLoc(ctx, a.SiteID)
	today := amigo.Day(now, loc)
	month0 := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	// Today so far: the last real-time registers less today's freeze, per
	// meter the account pays for now, primary side.
	var t amigo.Energy
	haveT := false
	for _, m := range ms {
		if !covers(a, m.ID, now) {
			continue
		}
		f, err1 := s.cfg.Store.ListReadings(ctx, m.ID, amigo.KindDaily, today, today.Add(time.Minute))
		last, err2 := s.cfg.Store.LastReading(ctx, m.ID, amigo.KindRealtime)
		if err1 == nil && err2 == nil && len(f) == 1 && f[0].HasForward && last.HasForward && !last.Time.Before(today) && last.Forward[0] >= f[0].Forward[0] {
			t += (last.Forward[0] - f[0].Forward[0]) * amigo.Energy(analysis.Multiplier(m))
			haveT = true
		}
	}
	if haveT {
		d.TodayKWh = &t
	}
	// This month's whole days (the analysis the API's consumption uses).
	if today.After(month0) {
		if pts, err := s.accountConsumption(ctx, ms, "day", month0, today, loc); err == nil {
			var sum amigo.Energy
			have := false
			for _, p := range pts {
				if p.Energy != nil {
					sum += *p.Energy
					have = true
				}
			}
			if have {
				if haveT {
					sum += t
				}
				d.MonthKWh = &sum
			}
		}
	} else {
		d.MonthKWh = d.TodayKWh
	}
	// Money: this month's deductions and bills, and yesterday's deduction.
	es, _, err := s.cfg.Store.ListLedger(ctx, a.ID, 100, 0)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	yref := amigo.DailyReference(a.ID, today.AddDate(0, 0, -1))
	for _, e := range es {
		if (e.Kind == amigo.LedgerDaily || e.Kind == amigo.LedgerBill) && !e.Time.Before(month0) {
			d.MonthFen -= e.AmountFen
		}
		if e.Reference == yref {
			f := -e.AmountFen
			d.YesterdayFen = &f
		}
	}
	d.Notices, _, _ = s.cfg.Store.ListNotices(ctx, a.ID, 3, 0)
	v.Data = d
	s.render(w, r, http.StatusOK, "app_home", v)
}

func covers(a amigo.Account, meterID int64, t time.Time) bool {
	for _, am := range a.Meters {
		if am.MeterID == meterID && am.Covers(t) {
			return true
		}
	}
	return false
}

// accountConsumption is the account's consumption per interval over its
// meters (a swap stays continuous), as the API's account consumption
// computes it.
func (s *Server) accountConsumption(ctx context.Context, ms []amigo.Meter, interval string, from, to time.Time, loc *time.Location) ([]analysis.Point, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	from, to, err := analysis.Range(interval, from, to, loc)
	if err != nil {
		return nil, err
	}
	segs, err := analysis.LoadSegments(ctx, s.cfg.Store, ms, interval, from, to, loc)
	if err != nil {
		return nil, err
	}
	return analysis.Consumption(segs, interval, from, to, loc)
}

// appUsage charts the account's consumption: 30 days, 12 months or 5
// years (each year the sum of its months).
func (s *Server) appUsage(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	ctx := r.Context()
	v.Nav, v.Title = "usage", v.L.T("app_usage")
	rng := r.URL.Query().Get("range")
	if rng != "month" && rng != "year" {
		rng = "day"
	}
	ms, err := s.accountMeters(ctx, cs.Account)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	loc := s.siteLoc(ctx, cs.Account.SiteID)
	today := amigo.Day(s.cfg.Now(), loc)
	month0 := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	var pts []analysis.Point
	switch rng {
	case "day":
		pts, err = s.accountConsumption(ctx, ms, "day", today.AddDate(0, 0, -30), today, loc)
	case "month":
		pts, err = s.accountConsumption(ctx, ms, "month", month0.AddDate(0, -11, 0), today.AddDate(0, 0, 1), loc)
	case "year":
		year0 := time.Date(today.Year()-4, 1, 1, 0, 0, 0, 0, loc)
		var months []analysis.Point
		months, err = s.accountConsumption(ctx, ms, "month", year0, today.AddDate(0, 0, 1), loc)
		byYear := map[int]*analysis.Point{}
		for _, p := range months {
			y := p.Start.In(loc).Year()
			if byYear[y] == nil {
				byYear[y] = &analysis.Point{Start: time.Date(y, 1, 1, 0, 0, 0, 0, loc)}
			}
			if p.Energy != nil {
				e := *p.Energy
				if byYear[y].Energy != nil {
					e += *byYear[y].Energy
				}
				byYear[y].Energy = &e
			}
		}
		for y := year0.Year(); y <= today.Year(); y++ {
			if p := byYear[y]; p != nil {
				pts = append(pts, *p)
			} else {
				pts = append(pts, analysis.Point{Start: time.Date(y, 1, 1, 0, 0, 0, 0, loc)})
			}
		}
	}
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	c := chart{X: []int64{}, Y: []*float64{}}
	var total amigo.Energy
	for _, p := range pts {
		c.X = append(c.X, p.Start.Unix())
		if p.Energy != nil {
			f := float64(*p.Energy) / 10000
			c.Y = append(c.Y, &f)
			total += *p.Energy
		} else {
			c.Y = append(c.Y, nil)
		}
	}
	b, _ := json.Marshal(c)
	v.Data = map[string]any{"A": cs.Account, "Range": rng, "Chart": template.JS(b), "Total": total}
	s.render(w, r, http.StatusOK, "app_usage", v)
}

func (s *Server) appPayPage(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "pay", v.L.T("app_pay")
	v.Data = map[string]any{"A": cs.Account, "Enabled": s.pay.Load().online, "Amounts": []int{20, 50, 100, 200}}
	s.render(w, r, http.StatusOK, "app_pay", v)
}

// parseYuan reads an amount in yuan with at most two decimals ("50",
// "12.5", "0.01") as fen, 1 fen .. 100,000 yuan.
func parseYuan(s string) (amigo.Fen, error) {
	s = strings.TrimSpace(s)
	bad := amigo.Errorf(amigo.EINVALID, "pay", "amount: want yuan with at most two decimals, 0.01..100000 / 金额应为元，最多两位小数，0.01..100000")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(whole) > 6 || len(frac) > 2 {
		return 0, bad
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	y, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	fen := amigo.Fen(y*100 + f)
	if fen < 1 || fen > 10_000_000 {
		return 0, bad
	}
	return fen, nil
}

// appPay makes an order through the API (the pay issue's payment
// service: stored and audited before the provider is asked) and shows it.
func (s *Server) appPay(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "pay", v.L.T("app_pay")
	fen, err := parseYuan(r.PostFormValue("amount"))
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	var o order
	if err := s.apiJSON(r, session{Token: cs.Token}, v.L, "POST", accountAPI(cs)+"/orders", map[string]any{"amount_fen": fen}, &o); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	http.Redirect(w, r, appHome(cs.Account.ID)+"orders/"+url.PathEscape(o.No), http.StatusSeeOther)
}

func accountAPI(cs custSession) string {
	return "/api/v1/accounts/" + strconv.FormatInt(cs.Account.ID, 10)
}

// appOrder shows an order (the API asks the provider about one still
// open); the page asks again every few seconds until it is paid.
func (s *Server) appOrder(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "pay", v.L.T("app_order")
	var o order
	if err := s.apiJSON(r, session{Token: cs.Token}, v.L, "GET", accountAPI(cs)+"/orders/"+url.PathEscape(r.PathValue("no")), nil, &o); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	a, err := s.cfg.Store.GetAccount(r.Context(), cs.Account.ID)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	ms, _ := s.accountMeters(r.Context(), a)
	v.Data = map[string]any{"A": a, "O": o, "Sandbox": s.pay.Load().sandbox, "Supply": a.Supply(ms, s.cfg.Now())}
	s.render(w, r, http.StatusOK, "app_order", v)
}

// appSandboxPay pays an order in the provider's sandbox through the API
// (a station running the sandbox only): the sandbox then notifies the
// station, which credits the account.
func (s *Server) appSandboxPay(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	no := r.PathValue("no")
	if err := s.apiJSON(r, session{Token: cs.Token}, v.L, "POST", accountAPI(cs)+"/sandbox-pay", map[string]string{"order_no": no}, nil); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	http.Redirect(w, r, appHome(cs.Account.ID)+"orders/"+url.PathEscape(no), http.StatusSeeOther)
}

// appHistory lists the ledger: payments (with receipts), deductions,
// bills and adjustments.
func (s *Server) appHistory(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "history", v.L.T("app_history")
	es, total, err := s.cfg.Store.ListLedger(r.Context(), cs.Account.ID, 100, 0)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	ps, _, err := s.cfg.Store.ListPayments(r.Context(), amigo.PaymentFilter{AccountID: cs.Account.ID, Limit: 100})
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	receipts := map[int64]string{}
	for _, p := range ps {
		receipts[p.LedgerID] = p.Receipt
	}
	v.Data = map[string]any{"A": cs.Account, "Entries": es, "Total": total, "Receipts": receipts}
	s.render(w, r, http.StatusOK, "app_history", v)
}

func (s *Server) appSupplyPage(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "supply", v.L.T("app_supply")
	ms, err := s.accountMeters(r.Context(), cs.Account)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	want := r.URL.Query().Get("to")
	if want != "on" && want != "off" {
		want = ""
	}
	v.Data = map[string]any{"A": cs.Account, "Supply": cs.Account.Supply(ms, s.cfg.Now()), "Meters": ms, "Want": want, "Enabled": s.cfg.Switch != nil,
		"Sent": r.URL.Query().Get("sent"), "Arrears": cs.Account.Control == amigo.ControlTripped}
	s.render(w, r, http.StatusOK, "app_supply", v)
}

// appSupply switches the supply as the customer asked (confirmed on the
// page before): money's CustomerSwitch, which refuses a switch-on while
// the supply is cut for arrears.
func (s *Server) appSupply(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "supply", v.L.T("app_supply")
	to := r.PostFormValue("to")
	if to != "on" && to != "off" {
		s.appFail(w, r, v, amigo.Errorf(amigo.EINVALID, "supply", "to: want on or off / to 应为 on 或 off"))
		return
	}
	if s.cfg.Switch == nil {
		s.appFail(w, r, v, amigo.Errorf(amigo.EUNAVAILABLE, "supply", "switching is not available at this station / 本站未开通自助通断电"))
		return
	}
	if _, err := s.cfg.Switch(r.Context(), cs.Account.ID, to == "on", cs.User); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	http.Redirect(w, r, appHome(cs.Account.ID)+"supply?sent="+to, http.StatusSeeOther)
}

func (s *Server) appNotices(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "notices", v.L.T("app_notices")
	ns, _, err := s.cfg.Store.ListNotices(r.Context(), cs.Account.ID, 100, 0)
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	// Each issued bill is a notice too, taken from the bill itself (a
	// billing run writes no notice row per bill: a million bills stay a
	// million rows, not two million).
	bills, _, err := s.cfg.Store.ListBills(r.Context(), amigo.BillFilter{AccountID: cs.Account.ID, Status: amigo.BillIssued, Limit: 24})
	if err != nil {
		s.appFail(w, r, v, err)
		return
	}
	v.Data = map[string]any{"A": cs.Account, "Notices": withBillNotices(ns, bills)}
	s.render(w, r, http.StatusOK, "app_notices", v)
}

// withBillNotices merges the notices of issued bills (a bill, or a credit
// note) into ns, newest first.
func withBillNotices(ns []amigo.Notice, bills []amigo.Bill) []amigo.Notice {
	out := append([]amigo.Notice(nil), ns...)
	for _, b := range bills {
		msg := fmt.Sprintf("Bill %s for %s issued: ¥ %s, due %s / 账单 %s（账期 %s）已出：¥ %s，缴费截止 %s",
			b.Number, b.Cycle, fmtFen(b.TotalFen), b.DueDate, b.Number, b.Cycle, fmtFen(b.TotalFen), b.DueDate)
		if b.Kind == amigo.BillKindCredit {
			msg = fmt.Sprintf("Credit note %s for %s: ¥ %s / 冲红通知 %s（账期 %s）：¥ %s", b.Number, b.Cycle, fmtFen(b.TotalFen), b.Number, b.Cycle, fmtFen(b.TotalFen))
		}
		out = append(out, amigo.Notice{AccountID: b.AccountID, Time: b.IssuedAt, Kind: "bill_issued", Message: msg})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
}

// fmtFen writes fen as yuan with two decimals.
func fmtFen(v any) string {
	var f int64
	switch x := v.(type) {
	case amigo.Fen:
		f = int64(x)
	case *amigo.Fen:
		if x == nil {
			return "—"
		}
		f = int64(*x)
	case int64:
		f = x
	default:
		return "—"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	return fmt.Sprintf("%s%d.%02d", sign, f/100, f%100)
}
