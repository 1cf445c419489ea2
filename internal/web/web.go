// Package web is the operator's platform in the browser, served at / on
// the station's HTTP server: server-rendered pages (html/template) with
// small embedded scripts (htmx, uPlot), in Chinese and English.
//
// Every action and every figure the API has goes through the API itself,
// called in-process with the operator's token: the same checks, limits
// (logins included) and audit. The session cookie holds that token
// (HttpOnly, SameSite=Strict), so a session ends when the API's token
// would: logout, a password change or retirement raise the user's token
// generation. Forms are protected twice against cross-site requests:
// net/http's CrossOriginProtection and a token bound to the session.
package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
)

//go:embed static templates/*.html
var files embed.FS

// Config is what the pages need.
type Config struct {
	Store amigo.Store
	// API is the station's API (api.Server), called in-process.
	API http.Handler
	// Who returns the user a token is good for (api.Server.Who).
	Who func(ctx context.Context, token string) (id int64, username, role string, err error)
	// Now is the station's clock.
	Now func() time.Time
	// Secret keys the forms' CSRF tokens (the API's token secret will do;
	// nil: a random key, good until the process ends).
	Secret []byte
	Log    *slog.Logger

	// Switch is the customer's supply switch (nil: not offered).
	Switch Switcher
}

// Server serves the pages.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
	cop   *http.CrossOriginProtection
	h     http.Handler
	pay   atomic.Pointer[payFlags]
}

// payFlags say whether the station takes online payments and whether its
// provider is the sandbox (the app then offers to pay there).
type payFlags struct{ online, sandbox bool }

// SetPayments tells the app that the station takes online payments (the
// API's orders) and whether through the sandbox provider.
func (s *Server) SetPayments(online, sandbox bool) {
	s.pay.Store(&payFlags{online: online, sandbox: sandbox && online})
}

// Cookie names.
const (
	sessionCookie = "amigo_session"
	langCookie    = "amigo_lang"
)

// New returns the pages' server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.API == nil || cfg.Who == nil {
		return nil, fmt.Errorf("web: Store, API and Who are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Secret) == 0 {
		// No key given (a station whose API tokens die with it): the
		// forms' tokens die with the process too.
		cfg.Secret = make([]byte, 32)
		rand.Read(cfg.Secret)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}, cop: http.NewCrossOriginProtection()}
	if err := s.parse(); err != nil {
		return nil, err
	}
	s.pay.Store(&payFlags{})
	s.routes()
	s.accountRoutes()
	s.appRoutes()
	s.h = s.cop.Handler(s.mux)
	return s, nil
}

// ServeHTTP sets the pages' security headers and serves the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	s.h.ServeHTTP(w, r)
}

// maxForm bounds a request body: a CSV import (the archive's own bound,
// 8 MiB, plus the multipart framing).
const maxForm = 9 << 20

func (s *Server) parse() error {
	funcs := template.FuncMap{
		"kwh":   fmtKWh,
		"yuan":  fmtFen,
		"pct":   fmtPct,
		"when":  fmtTime,
		"json":  toJSON,
		"add":   func(a, b int) int { return a + b },
		"lower": strings.ToLower,
		"dict2": func(l lang, items any) map[string]any { return map[string]any{"L": l, "Items": items} },
		"deref": func(p *int64) int64 { return *p },
		"volts": func(dv *int64) string { return fmt.Sprintf("%d.%d", *dv/10, *dv%10) },
		"cmdState": func(st string) string {
			if st == amigo.CmdSent {
				return "cmd_sent_state"
			}
			return "cmd_" + st
		},
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, "templates/_*.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// view is what every page template gets.
type view struct {
	L     lang
	User  string
	Role  string
	CSRF  string
	Path  string // the request's path and query, for the language switch
	Nav   string // the menu entry to highlight
	Title string
	Flash string
	Err   string
	Data  any
	Home  string // the customer's app: the account's home path
}

// render writes page name (or, for an htmx request, its block frag when
// frag is not "").
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, v *view) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	v.Path = r.URL.RequestURI()
	var buf bytes.Buffer
	tn := name + ".html"
	if f := r.Header.Get("HX-Target"); f != "" && r.Header.Get("HX-Request") == "true" && t.Lookup("frag-"+f) != nil {
		tn = "frag-" + f
	}
	if err := t.ExecuteTemplate(&buf, tn, v); err != nil {
		s.cfg.Log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error / 内部错误", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// session is the logged-in operator of a request.
type session struct {
	Token string
	ID    int64
	User  string
	Role  string
}

// authed wraps a page that needs a logged-in operator (any staff role; the
// API refuses what the role may not do).
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, se session, v *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var se session
		if err == nil {
			se.Token = c.Value
			se.ID, se.User, se.Role, err = s.cfg.Who(r.Context(), c.Value)
		}
		if err == nil && se.Role == amigo.RoleCustomer {
			err = fmt.Errorf("a customer's token")
		}
		if err != nil {
			if amigo.ErrorKind(err) == amigo.EUNAVAILABLE {
				http.Error(w, "store unavailable / 数据库不可用", http.StatusServiceUnavailable)
				return
			}
			to := "/login?next=" + urlQueryEscape(r.URL.RequestURI())
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", to)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		v := &view{L: langOf(r), User: se.User, Role: se.Role, CSRF: s.csrf(se.Token)}
		if r.Method == http.MethodPost && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(v.CSRF)) {
			v.Err = v.L.T("err_csrf")
			s.render(w, r, http.StatusForbidden, "error", v)
			return
		}
		h(w, r, se, v)
	}
}

// csrf is the forms' token of a session: HMAC-SHA256 of the session's
// token under the secret.
func (s *Server) csrf(token string) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("csrf|" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}

// apiCall calls the API in-process as the client of r (its address and
// forwarded-for header, so that the API's login limits count the real
// source) with token, and returns the status and body.
func (s *Server) apiCall(r *http.Request, token, method, path string, body io.Reader, ctype string) (int, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.RemoteAddr = r.RemoteAddr
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		req.Header["X-Forwarded-For"] = xff
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	s.cfg.API.ServeHTTP(rec, req)
	return rec.code, rec.buf.Bytes()
}

// apiJSON calls the API and decodes a 2xx answer into out; otherwise it
// returns the API's message in the page's language.
func (s *Server) apiJSON(r *http.Request, se session, l lang, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, _ := json.Marshal(in)
		body, ctype = bytes.NewReader(b), "application/json"
	}
	code, b := s.apiCall(r, se.Token, method, path, body, ctype)
	if code/100 != 2 {
		return apiError(l, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// pageError is an API refusal, said in one language.
type pageError struct {
	Code int
	Msg  string
}

func (e *pageError) Error() string { return e.Msg }

// apiError turns the API's bilingual error ("English / 中文") into the
// page's language.
func apiError(l lang, code int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return &pageError{Code: code, Msg: l.Pick(e.Error.Message)}
}

// recorder is the response of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	buf    bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.buf.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

// localPath keeps next a path on this site ("/" otherwise).
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// Mount serves the API under /api/, /healthz and /metrics, and the pages
// everywhere else.
func Mount(api, pages http.Handler) http.Handler {
	m := http.NewServeMux()
	m.Handle("/api/", api)
	m.Handle("/healthz", api)
	m.Handle("/metrics", api)
	m.Handle("/", pages)
	return m
}
