// Package wechatsandbox is a stand-in for WeChat Pay API v3 (微信支付沙箱),
// the one part of amigo's payments that cannot exist here. It speaks the
// provider's shapes with its signatures: it verifies the merchant's signed
// requests (POST /v3/pay/transactions/native, GET
// /v3/pay/transactions/out-trade-no/{no}), signs every answer with its
// platform key, lets a customer "pay" an order (POST /sandbox/pay, or
// Server.Pay), and then POSTs the encrypted, signed notification to the
// order's notify_url, again and again until it is answered with 2xx, as
// the real provider retries. Orders live in memory.
package wechatsandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
)

// Config is the sandbox's configuration.
type Config struct {
	Keys  Keys
	MchID string // the one merchant it serves
	AppID string
	// Retry is the wait before each further delivery of a notification
	// (the real provider: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m,
	// 3h, 3h, 3h, 6h, 6h). Default: 1s, 2s, 5s, 15s, 30s, 1m, 5m.
	Retry []time.Duration
	// MaxSkew bounds a request's timestamp against Now (default 5m).
	MaxSkew time.Duration
	Now     func() time.Time
	Log     *slog.Logger
	HTTP    *http.Client
	// OnDelivery, when set, is told of each delivery attempt's outcome
	// (status 0 with err when the POST failed).
	OnDelivery func(orderNo string, status int, err error)
}

// order is a sandbox order.
type order struct {
	t         wechatpay.Transaction
	notifyURL string
	codeURL   string
}

// Server is the sandbox.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	mu     sync.Mutex
	orders map[string]*order
	codes  map[string]string // code_url → out_trade_no
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	seq    int64
}

// New returns the sandbox; Close stops its deliveries.
func New(cfg Config) *Server {
	if cfg.Retry == nil {
		cfg.Retry = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute}
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), orders: map[string]*order{}, codes: map[string]string{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux.HandleFunc("POST /v3/pay/transactions/native", s.native)
	s.mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{no}", s.query)
	s.mux.HandleFunc("POST /sandbox/pay", s.payHTTP)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint in the sandbox / 沙箱无此接口")
	})
	return s
}

// Close stops the deliveries in progress and waits for them.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// maxRequest bounds a request body.
const maxRequest = 64 << 10

// ServeHTTP serves the sandbox's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequest)
	s.mux.ServeHTTP(w, r)
}

// answer writes a signed JSON answer.
func (s *Server) answer(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	h, err := s.SignHeaders(b, s.cfg.Now())
	if err != nil {
		http.Error(w, "sign", http.StatusInternalServerError)
		return
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	s.answer(w, status, wechatpay.ErrorAnswer{Code: code, Message: msg})
}

// SignHeaders returns the Wechatpay-* headers of body signed at now with
// the platform key.
func (s *Server) SignHeaders(body []byte, now time.Time) (http.Header, error) {
	ts, nonce := strconv.FormatInt(now.Unix(), 10), wechatpay.RandomString(32)
	sig, err := wechatpay.Sign(s.cfg.Keys.Platform, wechatpay.Message(ts, nonce, body))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(wechatpay.HeaderTimestamp, ts)
	h.Set(wechatpay.HeaderNonce, nonce)
	h.Set(wechatpay.HeaderSerial, s.cfg.Keys.PlatformSerial)
	h.Set(wechatpay.HeaderSignature, sig)
	return h, nil
}

var authField = regexp.MustCompile(`(\w+)="([^"]*)"`)

// authorize checks the merchant's Authorization header on r with body.
func (s *Server) authorize(r *http.Request, body []byte) error {
	a := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(a, wechatpay.AuthScheme+" ")
	if !ok {
		return errors.New("Authorization: want " + wechatpay.AuthScheme)
	}
	f := map[string]string{}
	for _, m := range authField.FindAllStringSubmatch(rest, 8) {
		f[m[1]] = m[2]
	}
	if f["mchid"] != s.cfg.MchID {
		return fmt.Errorf("mchid %q is not the sandbox's merchant", f["mchid"])
	}
	if f["serial_no"] != s.cfg.Keys.MerchantSerial {
		return errors.New("serial_no is not the merchant certificate's serial")
	}
	sec, err := strconv.ParseInt(f["timestamp"], 10, 64)
	if err != nil {
		return errors.New("timestamp is not Unix seconds")
	}
	if d := s.cfg.Now().Sub(time.Unix(sec, 0)); d > s.cfg.MaxSkew || d < -s.cfg.MaxSkew {
		return fmt.Errorf("timestamp %s off by %s", f["timestamp"], d)
	}
	msg := wechatpay.RequestMessage(r.Method, r.URL.RequestURI(), f["timestamp"], f["nonce_str"], body)
	return wechatpay.Verify(&s.cfg.Keys.Merchant.PublicKey, msg, f["signature"])
}

var tradeNo = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)

func (s *Server) native(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "body too large")
		return
	}
	if err := s.authorize(r, body); err != nil {
		s.fail(w, http.StatusUnauthorized, "SIGN_ERROR", err.Error())
		return
	}
	var req wechatpay.NativeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", err.Error())
		return
	}
	switch {
	case req.MchID != s.cfg.MchID:
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "mchid")
		return
	case !tradeNo.MatchString(req.OutTradeNo):
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "out_trade_no: 6..32 of 0-9 A-Z a-z _ - | *")
		return
	case req.Amount.Total <= 0:
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "amount.total")
		return
	case !strings.HasPrefix(req.NotifyURL, "http://") && !strings.HasPrefix(req.NotifyURL, "https://"):
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "notify_url")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[req.OutTradeNo]; ok {
		if o.t.Amount.Total != req.Amount.Total {
			s.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "out_trade_no used with another amount / 商户订单号重复")
			return
		}
		s.answer(w, http.StatusOK, wechatpay.NativeAnswer{CodeURL: o.codeURL})
		return
	}
	code := "weixin://wxpay/bizpayurl?pr=" + wechatpay.RandomString(7)
	s.orders[req.OutTradeNo] = &order{notifyURL: req.NotifyURL, codeURL: code, t: wechatpay.Transaction{AppID: req.AppID, MchID: req.MchID,
		OutTradeNo: req.OutTradeNo, TradeType: "NATIVE", TradeState: "NOTPAY", TradeStateDesc: "未支付", Amount: wechatpay.Amount{Total: req.Amount.Total, Currency: "CNY"}}}
	s.codes[code] = req.OutTradeNo
	s.answer(w, http.StatusOK, wechatpay.NativeAnswer{CodeURL: code})
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r, nil); err != nil {
		s.fail(w, http.StatusUnauthorized, "SIGN_ERROR", err.Error())
		return
	}
	if r.URL.Query().Get("mchid") != s.cfg.MchID {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "mchid")
		return
	}
	t, ok := s.Order(r.PathValue("no"))
	if !ok {
		s.fail(w, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在 / no such order")
		return
	}
	s.answer(w, http.StatusOK, t)
}

// Order returns an order as the sandbox has it.
func (s *Server) Order(no string) (wechatpay.Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		return wechatpay.Transaction{}, false
	}
	return o.t, true
}

// PayRequest is the body of POST /sandbox/pay: the order by its number or
// by the code_url the customer scanned.
type PayRequest struct {
	OutTradeNo string `json:"out_trade_no,omitempty"`
	CodeURL    string `json:"code_url,omitempty"`
}

func (s *Server) payHTTP(w http.ResponseWriter, r *http.Request) {
	var req PayRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "want {\"out_trade_no\"} or {\"code_url\"} / 请求体应为订单号或二维码链接")
		return
	}
	no := req.OutTradeNo
	if no == "" {
		s.mu.Lock()
		no = s.codes[req.CodeURL]
		s.mu.Unlock()
	}
	t, err := s.Pay(no)
	if err != nil {
		s.fail(w, http.StatusNotFound, "ORDER_NOT_EXIST", err.Error())
		return
	}
	s.answer(w, http.StatusOK, t)
}

// Pay is the customer paying order no in full (the demo's and the web
// app's "pay"): the order becomes SUCCESS with a new transaction_id, and
// its notification is delivered to the notify_url until it is accepted.
// Paying a paid order again changes nothing and sends nothing.
func (s *Server) Pay(no string) (wechatpay.Transaction, error) {
	s.mu.Lock()
	o, ok := s.orders[no]
	if !ok {
		s.mu.Unlock()
		return wechatpay.Transaction{}, fmt.Errorf("no order %q in the sandbox / 沙箱中无此订单", no)
	}
	if o.t.TradeState == "SUCCESS" {
		t := o.t
		s.mu.Unlock()
		return t, nil
	}
	s.seq++
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	now := s.cfg.Now()
	o.t.TransactionID = fmt.Sprintf("4200%s%06d%08d", now.In(chinaZone).Format("20060102"), n.Int64(), s.seq)
	o.t.TradeState, o.t.TradeStateDesc, o.t.BankType = "SUCCESS", "支付成功", "OTHERS"
	o.t.SuccessTime = now.In(chinaZone).Format(time.RFC3339)
	o.t.Payer = &wechatpay.Payer{OpenID: "oSandbox" + wechatpay.RandomString(20)}
	o.t.Amount.PayerTotal, o.t.Amount.PayerCurrency = o.t.Amount.Total, "CNY"
	t, url := o.t, o.notifyURL
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deliver(t, url)
	}()
	return t, nil
}

// chinaZone is the provider's zone (success_time carries +08:00).
var chinaZone = time.FixedZone("CST", 8*3600)

// Notification returns a notification about t, encrypted and signed at
// now, as the provider sends it: the headers and the body.
func (s *Server) Notification(t wechatpay.Transaction, now time.Time) (http.Header, []byte, error) {
	pt, err := json.Marshal(t)
	if err != nil {
		return nil, nil, err
	}
	res, err := wechatpay.Encrypt(s.cfg.Keys.APIv3Key, "transaction", pt)
	if err != nil {
		return nil, nil, err
	}
	n := wechatpay.Notification{ID: "EV-" + wechatpay.RandomString(20), CreateTime: now.In(chinaZone).Format(time.RFC3339),
		ResourceType: "encrypt-resource", EventType: "TRANSACTION.SUCCESS", Summary: "支付成功", Resource: res}
	body, err := json.Marshal(n)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.SignHeaders(body, now)
	return h, body, err
}

// Post sends one notification to url; it returns the answer's status.
func (s *Server) Post(ctx context.Context, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliver posts t's notification until it is accepted (2xx) or the
// retries run out; each attempt is signed afresh.
func (s *Server) deliver(t wechatpay.Transaction, url string) {
	for i := 0; ; i++ {
		h, body, err := s.Notification(t, s.cfg.Now())
		status := 0
		if err == nil {
			status, err = s.Post(s.ctx, url, h, body)
		}
		if s.cfg.OnDelivery != nil {
			s.cfg.OnDelivery(t.OutTradeNo, status, err)
		}
		if err == nil && status/100 == 2 {
			s.cfg.Log.Info("sandbox notification accepted / 沙箱支付通知已被接受", "order", t.OutTradeNo, "status", status)
			return
		}
		s.cfg.Log.Warn("sandbox notification not accepted / 沙箱支付通知未被接受", "order", t.OutTradeNo, "status", status, "err", err, "attempt", i+1)
		if i >= len(s.cfg.Retry) {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.cfg.Retry[i]):
		}
	}
}
