// Package api is the station's JSON REST API under /api/v1 (documented by
// /api/v1/openapi.json), plus /healthz and Prometheus metrics at /metrics.
// Errors are JSON with a stable code; no stack trace or SQL reaches a
// response.
package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/archive"
	"github.com/amigo-metering/amigo/internal/billing"
	"github.com/amigo-metering/amigo/internal/payment"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/tariff"
)

// ArchiveWatcher, when the Commander has it, is told that the meters of a
// collector changed (0: of any collector), so that the engine pushes the
// new archive at once rather than at its next listing.
type ArchiveWatcher interface {
	ArchiveChanged(collectorID int64)
}

// archiveChanged tells the engine, if it listens, that these collectors'
// meters changed.
func (s *Server) archiveChanged(ids ...int64) {
	w, ok := s.cmd.(ArchiveWatcher)
	if !ok {
		return
	}
	for _, id := range ids {
		w.ArchiveChanged(id)
	}
}

// Commander is how the API asks for commands (the station engine).
type Commander interface {
	Submit(ctx context.Context, meterID int64, typ, by string) (amigo.Command, error)
}

// Server serves the API.
type Server struct {
	store  amigo.Store
	cmd    Commander
	now    func() time.Time
	secret []byte
	log    *slog.Logger
	mux    *http.ServeMux
	arch   *archive.Service
	wallet Wallet
	routes []string // every pattern registered, for the OpenAPI check

	opts  Options
	guard *loginGuard
	// comparePassword checks a password against its bcrypt hash (a
	// variable so that tests can count the checks).
	comparePassword func(hash, pw []byte) error

	// pay takes online payments (SetPayments); nil: they are off.
	pay  *payment.Service
	runs billingRuns // billing runs this process works on (bills.go)
}

// Options are the API's settings beyond New's arguments.
type Options struct {
	// MetricsToken, when set, is required as "Authorization: Bearer
	// <token>" by GET /metrics; empty leaves /metrics open.
	MetricsToken string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client (for counting failed logins per source); from any
	// other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// PayBase is the customer's pay page a bill's QR code links to
	// (billing.DefaultPayBase when empty).
	PayBase string
	// RenderBill, when set, renders a bill's PDF for GET
	// /api/v1/bills/{id}/pdf (the printing package); nil answers 501.
	RenderBill func(billing.Document) ([]byte, error)
	// RenderReceipt, when set, renders a payment's receipt (GET
	// /api/v1/payments/{id}/pdf); nil answers 501.
	RenderReceipt func(printing.ReceiptDoc) ([]byte, error)
	// PrintReceipt and PrintRun queue documents for the station's printer
	// (printing.Queue.Enqueue with the receipt number as reference;
	// printing.BillPrinter.PrintRun); nil: the station has no printer,
	// and asking to print answers 409.
	PrintReceipt func(ctx context.Context, refID string, pdf []byte) (int64, error)
	PrintRun     func(ctx context.Context, run amigo.BillingRun) ([]int64, error)
}

// minMetricsToken is the shortest metrics token accepted.
const minMetricsToken = 16

// SetOptions applies o; call it before serving.
func (s *Server) SetOptions(o Options) error {
	if o.MetricsToken != "" && len(o.MetricsToken) < minMetricsToken {
		return amigo.Errorf(amigo.EINVALID, "options", "metrics_token must be at least %d characters / metrics_token 至少%d个字符", minMetricsToken, minMetricsToken)
	}
	s.opts = o
	return nil
}

// New returns the API server. secret signs the tokens (32 random bytes if
// nil: tokens then die with the process).
func New(store amigo.Store, cmd Commander, now func() time.Time, secret []byte, log *slog.Logger) *Server {
	if secret == nil {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{store: store, cmd: cmd, now: now, secret: secret, log: log, mux: http.NewServeMux(),
		arch: archive.New(store, now), guard: newLoginGuard(), comparePassword: bcrypt.CompareHashAndPassword, wallet: storeWallet{store}}
	s.register()
	return s
}

// HashPassword returns a bcrypt hash for a new user (archive.HashPassword).
func HashPassword(pw string) (string, error) { return archive.HashPassword(pw) }

// Routes returns every pattern the server answers ("METHOD /path").
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// handleFunc registers an unauthenticated route.
func (s *Server) handleFunc(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP sets the security headers on every answer, bounds the request
// body (JSON at maxBody, CSV imports at archive.MaxImportBytes plus a
// margin so that the import names its own limit) and serves the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	// Answers carry tokens, readings and secrets: no cache keeps them.
	h.Set("Cache-Control", "no-store")
	limit := bodyLimit(r)
	if r.ContentLength > limit {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "request", "request body larger than %d bytes / 请求体超过%d字节", limit, limit))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.mux.ServeHTTP(w, r)
}

// bodyLimit is the most a request's body may hold: the bound of the
// route's own decoder (plus a margin for CSV imports, so that the import
// names its limit itself), maxBody for every other route.
func bodyLimit(r *http.Request) int64 {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/api/v1/import/") || p == "/api/v1/meters/import":
		return archive.MaxImportBytes + 64<<10
	case p == "/api/v1/tariffs":
		return tariff.MaxDocument
	case strings.HasPrefix(p, "/api/v1/tariffs/"):
		return max(tariff.MaxRequest, maxBody)
	case p == NotifyPath:
		return maxBody + 1<<10 // the notify route bounds itself (64 KiB) and counts what it refuses
	}
	return maxBody
}

func (s *Server) register() {
	s.handleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.store.ListSites(r.Context()); err != nil {
			writeErr(w, &amigo.Error{Kind: amigo.EUNAVAILABLE, Message: "store unavailable / 数据库不可用", Err: err})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handleFunc("GET /metrics", s.metricsGuarded)
	s.handleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi)
	})
	s.handleFunc("POST /api/v1/login", s.login)
	s.handle("POST /api/v1/logout", amigo.RoleViewer, s.logout)
	s.handle("GET /api/v1/meters", amigo.RoleViewer, s.listMeters)
	s.handle("GET /api/v1/meters/{address}", amigo.RoleViewer, s.getMeter)
	s.handle("GET /api/v1/meters/{address}/readings", amigo.RoleViewer, s.readings)
	s.handle("GET /api/v1/meters/{address}/consumption", amigo.RoleViewer, s.consumption)
	s.handle("POST /api/v1/meters/{address}/readings", amigo.RoleOperator, s.postReading)
	s.handle("GET /api/v1/accounts/{id}/consumption", amigo.RoleViewer, s.accountConsumption)
	s.handle("POST /api/v1/meters/{address}/commands", amigo.RoleOperator, s.createCommand)
	s.handle("GET /api/v1/commands/{id}", amigo.RoleViewer, s.getCommand)
	s.handle("GET /api/v1/collectors", amigo.RoleViewer, s.listCollectors)
	s.handle("GET /api/v1/areas", amigo.RoleViewer, s.listAreas)
	s.handle("GET /api/v1/events", amigo.RoleViewer, s.listEvents)
	s.handle("GET /api/v1/success-rates", amigo.RoleViewer, s.successRates)
	s.archiveRoutes()
	s.tariffRoutes()
	s.moneyRoutes()
	s.paymentRoutes()
	s.billRoutes()
	s.printRoutes()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, amigo.Errorf(amigo.ENOTFOUND, "route", "no such endpoint: %s %s / 接口不存在", r.Method, r.URL.Path))
	})
}

// principal is the user a request is made by, as the store has them now.
type principal struct {
	ID   int64
	User string
	Role string
}

type ctxKey struct{}

var rank = map[string]int{amigo.RoleViewer: 1, amigo.RoleCashier: 1, amigo.RoleOperator: 2, amigo.RoleAdmin: 3}

// handle wraps h with bearer-token authentication and a minimum role.
func (s *Server) handle(pattern, role string, h func(w http.ResponseWriter, r *http.Request, p principal)) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, err := s.verify(r.Context(), tok)
		if amigo.ErrorKind(err) == amigo.EUNAVAILABLE {
			writeErr(w, err)
			return
		}
		if !ok || err != nil {
			writeErr(w, amigo.Errorf(amigo.EUNAUTHORIZED, "auth", "log in first: Authorization: Bearer <token> / 请先登录"))
			return
		}
		if rank[p.Role] < rank[role] {
			writeErr(w, amigo.Errorf(amigo.EFORBIDDEN, "auth", "role %s may not do this / 权限不足", p.Role))
			return
		}
		h(w, r, p)
	})
}

// Tokens: base64(user id|token generation|expiry unix) "." base64(HMAC-SHA256).
// A token is good while its user exists, is not retired and still has the
// generation it was issued under: logout, a password change and retirement
// raise the generation, so the user's tokens die at once. The user's role
// is read from the store on every request.
func (s *Server) sign(u amigo.User, exp time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(u.ID, 10) + "|" + strconv.FormatInt(u.TokenGen, 10) + "|" + strconv.FormatInt(exp.Unix(), 10)))
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a token's signature and expiry, then its user: one
// primary-key look-up per request.
func (s *Server) verify(ctx context.Context, tok string) (principal, error) {
	if len(tok) > 512 {
		return principal{}, errors.New("token too long")
	}
	body, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return principal{}, errors.New("malformed token")
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(body))
	want := m.Sum(nil)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return principal{}, errors.New("bad signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return principal{}, err
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return principal{}, errors.New("malformed token")
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	gen, err2 := strconv.ParseInt(parts[1], 10, 64)
	exp, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return principal{}, errors.New("malformed token")
	}
	if time.Now().Unix() > exp {
		return principal{}, errors.New("expired token")
	}
	u, err := s.store.GetUser(ctx, id)
	switch {
	case amigo.ErrorKind(err) == amigo.ENOTFOUND:
		return principal{}, errors.New("no such user")
	case err != nil:
		return principal{}, &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: "auth", Message: "store unavailable / 数据库不可用", Err: err}
	case !u.RetiredAt.IsZero():
		return principal{}, errors.New("retired user")
	case u.TokenGen != gen:
		return principal{}, errors.New("revoked token")
	}
	return principal{ID: u.ID, User: u.Username, Role: u.Role}, nil
}

// JSON helpers.

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

var statusOf = map[string]int{
	amigo.EINVALID: http.StatusBadRequest, amigo.ENOTFOUND: http.StatusNotFound, amigo.ECONFLICT: http.StatusConflict,
	amigo.EUNAUTHORIZED: http.StatusUnauthorized, amigo.EFORBIDDEN: http.StatusForbidden, amigo.EUNAVAILABLE: http.StatusServiceUnavailable,
	amigo.ETOOMANY: http.StatusTooManyRequests,
}

func writeErr(w http.ResponseWriter, err error) {
	kind := amigo.ErrorKind(err)
	code, ok := statusOf[kind]
	if !ok {
		code = http.StatusInternalServerError
	}
	msg := amigo.ErrorMessage(err)
	if kind == amigo.EINTERNAL {
		slog.Error("api: internal error", "err", err)
		msg = "internal error / 内部错误"
	}
	writeJSON(w, code, map[string]any{"error": map[string]string{"code": kind, "message": msg}})
}

// queryPage reads limit (1..maxPage, default def) and offset (≥ 0).
func queryPage(r *http.Request, def int) (limit, offset int, err error) {
	limit, offset = def, 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxPage {
			return 0, 0, amigo.Errorf(amigo.EINVALID, "query", "limit must be 1..%d / limit 应为 1..%d", maxPage, maxPage)
		}
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > maxOffset {
			return 0, 0, amigo.Errorf(amigo.EINVALID, "query", "offset must be 0..%d / offset 应为 0..%d", maxOffset, maxOffset)
		}
	}
	return limit, offset, nil
}

// Page bounds: a page of meters costs two look-ups per meter.
const (
	maxPage   = 1000
	maxOffset = 10_000_000
)

func queryID(r *http.Request, name string) int64 {
	v, _ := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
	return v
}

// Times in queries and bodies lie in the years minYear..maxYear-1 (in
// the zone they are given in): no reading of amigo's is older, and the
// bound keeps every range arithmetic far from overflow.
const (
	minYear = 2000
	maxYear = 2100
)

// yearOK says whether t's year (in its own zone) is in minYear..maxYear-1.
func yearOK(t time.Time) bool { return t.Year() >= minYear && t.Year() < maxYear }

// checkTime refuses a time outside the years minYear..maxYear-1.
func checkTime(what string, t time.Time) error {
	if !yearOK(t) {
		return amigo.Errorf(amigo.EINVALID, "time", "%s %s is outside the years %d..%d / %s 超出 %d..%d 年", what, t.Format(time.RFC3339), minYear, maxYear-1, what, minYear, maxYear-1)
	}
	return nil
}

// parseTime reads RFC 3339 or a date (00:00 in loc), in the years
// minYear..maxYear-1.
func parseTime(s string, loc *time.Location, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.ParseInLocation("2006-01-02", s, loc); err != nil {
			return time.Time{}, amigo.Errorf(amigo.EINVALID, "time", "%q is not a date (2006-01-02) or RFC 3339 time / 时间格式错误", truncate(s, 40))
		}
	}
	if !yearOK(t) {
		return time.Time{}, amigo.Errorf(amigo.EINVALID, "time", "%q is outside the years %d..%d / %q 超出 %d..%d 年", truncate(s, 40), minYear, maxYear-1, truncate(s, 40), minYear, maxYear-1)
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
