package wechatpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo/internal/payment"
)

// NativeRequest is the body of POST /v3/pay/transactions/native.
type NativeRequest struct {
	AppID       string `json:"appid"`
	MchID       string `json:"mchid"`
	Description string `json:"description"`
	OutTradeNo  string `json:"out_trade_no"`
	NotifyURL   string `json:"notify_url"`
	Amount      Amount `json:"amount"`
}

// Amount is an amount in fen.
type Amount struct {
	Total         int64  `json:"total"`
	Currency      string `json:"currency,omitempty"`
	PayerTotal    int64  `json:"payer_total,omitempty"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// NativeAnswer is the answer to a native order.
type NativeAnswer struct {
	CodeURL string `json:"code_url"`
}

// Transaction is a paid or unpaid order: the answer of a query and the
// plaintext of a notification's resource.
type Transaction struct {
	AppID          string `json:"appid"`
	MchID          string `json:"mchid"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id,omitempty"`
	TradeType      string `json:"trade_type,omitempty"`
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc,omitempty"`
	BankType       string `json:"bank_type,omitempty"`
	Attach         string `json:"attach,omitempty"`
	SuccessTime    string `json:"success_time,omitempty"` // RFC 3339, e.g. 2026-11-25T10:34:56+08:00
	Payer          *Payer `json:"payer,omitempty"`
	Amount         Amount `json:"amount"`
}

// Payer is who paid.
type Payer struct {
	OpenID string `json:"openid"`
}

// Notification is the body the provider POSTs to the notify URL.
type Notification struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	ResourceType string   `json:"resource_type"`
	EventType    string   `json:"event_type"`
	Summary      string   `json:"summary"`
	Resource     Resource `json:"resource"`
}

// ErrorAnswer is the body of a refusal, both ways.
type ErrorAnswer struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Config is the merchant's side of the conversation.
type Config struct {
	// BaseURL is https://api.mch.weixin.qq.com for the real provider, the
	// sandbox's address otherwise.
	BaseURL string
	MchID   string
	AppID   string
	// MerchantKey signs requests; MerchantSerial is its certificate's
	// serial (商户API证书序列号).
	MerchantKey    *rsa.PrivateKey
	MerchantSerial string
	// PlatformKey verifies answers and notifications; PlatformSerial is
	// its serial (平台证书序列号 or 微信支付公钥ID): anything signed under
	// another serial is refused.
	PlatformKey    *rsa.PublicKey
	PlatformSerial string
	// APIv3Key decrypts notifications (32 bytes).
	APIv3Key []byte
	// MaxSkew is how far a signed timestamp may be from now (default 5
	// minutes).
	MaxSkew time.Duration
	HTTP    *http.Client
	Now     func() time.Time
}

// Client is a payment.Provider speaking WeChat Pay API v3.
type Client struct{ cfg Config }

// New checks cfg and returns the client.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.BaseURL == "":
		return nil, errors.New("wechatpay: base_url is empty / 未配置 base_url")
	case cfg.MchID == "":
		return nil, errors.New("wechatpay: mchid is empty / 未配置商户号 mchid")
	case cfg.MerchantKey == nil || cfg.MerchantSerial == "":
		return nil, errors.New("wechatpay: the merchant key and its serial are needed / 需要商户私钥及其序列号")
	case cfg.PlatformKey == nil || cfg.PlatformSerial == "":
		return nil, errors.New("wechatpay: the platform public key and its serial are needed / 需要平台公钥及其序列号")
	case len(cfg.APIv3Key) != APIv3KeySize:
		return nil, fmt.Errorf("wechatpay: the API v3 key must be %d bytes, got %d / APIv3密钥应为%d字节", APIv3KeySize, len(cfg.APIv3Key), APIv3KeySize)
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("wechatpay: base_url: %w", err)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}, nil
}

// Name is the ledger method of these payments.
func (c *Client) Name() string { return "wechat" }

// maxAnswer bounds an answer's body.
const maxAnswer = 64 << 10

// do sends a signed request and verifies the signed answer; it returns the
// status and the body.
func (c *Client) do(ctx context.Context, method, pathQuery string, body []byte) (int, []byte, error) {
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	nonce := RandomString(32)
	sig, err := Sign(c.cfg.MerchantKey, RequestMessage(method, pathQuery, ts, nonce, body))
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+pathQuery, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("wechatpay: %w", err)
	}
	req.Header.Set("Authorization", fmt.Sprintf(`%s mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`,
		AuthScheme, c.cfg.MchID, nonce, sig, ts, c.cfg.MerchantSerial))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("wechatpay: %s %s: %w", method, pathQuery, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, fmt.Errorf("wechatpay: %s %s: reading the answer: %w", method, pathQuery, err)
	}
	if len(b) > maxAnswer {
		return 0, nil, fmt.Errorf("wechatpay: %s %s: answer larger than %d bytes", method, pathQuery, maxAnswer)
	}
	if err := c.verify(resp.Header, b, c.cfg.Now()); err != nil {
		return 0, nil, fmt.Errorf("wechatpay: %s %s: answer refused: %w", method, pathQuery, err)
	}
	return resp.StatusCode, b, nil
}

// verify checks the platform's signature on headers and body, and that its
// timestamp is within MaxSkew of now. Its errors are *payment.Refusal.
func (c *Client) verify(h http.Header, body []byte, now time.Time) error {
	ts, nonce, serial, sig := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSerial), h.Get(HeaderSignature)
	if ts == "" || nonce == "" || serial == "" || sig == "" {
		return payment.Refusef(payment.RefusedSignature, "the Wechatpay-Timestamp, -Nonce, -Serial and -Signature headers are all needed")
	}
	if serial != c.cfg.PlatformSerial {
		return payment.Refusef(payment.RefusedSerial, "Wechatpay-Serial %.64q is not the configured platform serial", serial)
	}
	if len(nonce) > 64 || len(ts) > 20 {
		return payment.Refusef(payment.RefusedMalformed, "Wechatpay-Nonce or -Timestamp too long")
	}
	if err := Verify(c.cfg.PlatformKey, Message(ts, nonce, body), sig); err != nil {
		return payment.Refusef(payment.RefusedSignature, "Wechatpay-Signature does not verify under the platform key")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return payment.Refusef(payment.RefusedMalformed, "Wechatpay-Timestamp %.20q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > c.cfg.MaxSkew || d < -c.cfg.MaxSkew {
		return payment.Refusef(payment.RefusedStale, "Wechatpay-Timestamp %s is %s from the station's clock (at most %s)", ts, d.Round(time.Second), c.cfg.MaxSkew)
	}
	return nil
}

// CreateOrder places a native (QR code) order.
func (c *Client) CreateOrder(ctx context.Context, o payment.OrderRequest) (string, error) {
	body, err := json.Marshal(NativeRequest{AppID: c.cfg.AppID, MchID: c.cfg.MchID, Description: o.Description, OutTradeNo: o.OrderNo,
		NotifyURL: o.NotifyURL, Amount: Amount{Total: o.AmountFen, Currency: "CNY"}})
	if err != nil {
		return "", fmt.Errorf("wechatpay: %w", err)
	}
	status, b, err := c.do(ctx, http.MethodPost, "/v3/pay/transactions/native", body)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", answerError("native order", status, b)
	}
	var a NativeAnswer
	if err := json.Unmarshal(b, &a); err != nil || a.CodeURL == "" {
		return "", fmt.Errorf("wechatpay: native order: answer without code_url")
	}
	return a.CodeURL, nil
}

// QueryOrder queries an order by its out_trade_no.
func (c *Client) QueryOrder(ctx context.Context, orderNo string) (payment.ProviderOrder, error) {
	status, b, err := c.do(ctx, http.MethodGet, "/v3/pay/transactions/out-trade-no/"+url.PathEscape(orderNo)+"?mchid="+url.QueryEscape(c.cfg.MchID), nil)
	if err != nil {
		return payment.ProviderOrder{}, err
	}
	if status == http.StatusNotFound {
		return payment.ProviderOrder{}, payment.ErrNoOrder
	}
	if status != http.StatusOK {
		return payment.ProviderOrder{}, answerError("query order", status, b)
	}
	var t Transaction
	if err := json.Unmarshal(b, &t); err != nil {
		return payment.ProviderOrder{}, fmt.Errorf("wechatpay: query order: %w", err)
	}
	if t.OutTradeNo != orderNo {
		return payment.ProviderOrder{}, fmt.Errorf("wechatpay: query order %s: the answer is about %q", orderNo, t.OutTradeNo)
	}
	return providerOrder(t)
}

func answerError(what string, status int, b []byte) error {
	var e ErrorAnswer
	json.Unmarshal(b, &e)
	return fmt.Errorf("wechatpay: %s: HTTP %d %s %.200s", what, status, e.Code, e.Message)
}

// providerOrder turns a transaction into the provider-neutral order.
func providerOrder(t Transaction) (payment.ProviderOrder, error) {
	o := payment.ProviderOrder{OrderNo: t.OutTradeNo, TransactionID: t.TransactionID, State: t.TradeState, AmountFen: t.Amount.Total}
	if t.SuccessTime != "" {
		at, err := time.Parse(time.RFC3339, t.SuccessTime)
		if err != nil {
			return o, fmt.Errorf("wechatpay: success_time %.40q: want RFC 3339", t.SuccessTime)
		}
		o.PaidAt = at
	}
	return o, nil
}

// ParseNotification verifies and decrypts a notification (payment.Provider).
func (c *Client) ParseNotification(h http.Header, body []byte, now time.Time) (payment.ProviderOrder, error) {
	if err := c.verify(h, body, now); err != nil {
		return payment.ProviderOrder{}, err
	}
	t, err := DecodeNotification(c.cfg.APIv3Key, body)
	if err != nil {
		return payment.ProviderOrder{}, err
	}
	if t.MchID != c.cfg.MchID {
		return payment.ProviderOrder{}, payment.Refusef(payment.RefusedMalformed, "mchid %.40q is not this merchant's", t.MchID)
	}
	o, err := providerOrder(t)
	if err != nil {
		return o, payment.Refusef(payment.RefusedMalformed, "%v", err)
	}
	return o, nil
}

// maxNotification bounds a notification's body.
const maxNotification = 64 << 10

// DecodeNotification decodes a notification body and decrypts its resource
// (fuzzed). It checks the shape: a transaction with an out_trade_no, a
// transaction_id for a paid one, and an amount in fen.
func DecodeNotification(apiV3Key, body []byte) (Transaction, error) {
	if len(body) > maxNotification {
		return Transaction{}, payment.Refusef(payment.RefusedTooLarge, "body larger than %d bytes", maxNotification)
	}
	var n Notification
	if err := strictJSON(body, &n); err != nil {
		return Transaction{}, payment.Refusef(payment.RefusedMalformed, "body: %v", err)
	}
	if n.ResourceType != "encrypt-resource" {
		return Transaction{}, payment.Refusef(payment.RefusedMalformed, "resource_type %.40q: want encrypt-resource", n.ResourceType)
	}
	pt, err := Decrypt(apiV3Key, n.Resource)
	if err != nil {
		return Transaction{}, payment.Refusef(payment.RefusedDecrypt, "%v", err)
	}
	var t Transaction
	if err := json.Unmarshal(pt, &t); err != nil {
		return Transaction{}, payment.Refusef(payment.RefusedMalformed, "resource plaintext: %v", err)
	}
	switch {
	case t.OutTradeNo == "" || len(t.OutTradeNo) > 32:
		return t, payment.Refusef(payment.RefusedMalformed, "out_trade_no: want 1..32 characters")
	case len(t.TransactionID) > 32:
		return t, payment.Refusef(payment.RefusedMalformed, "transaction_id: longer than 32 characters")
	case t.TradeState == payment.TradeSuccess && t.TransactionID == "":
		return t, payment.Refusef(payment.RefusedMalformed, "transaction_id: empty for a paid order")
	case t.Amount.Total <= 0:
		return t, payment.Refusef(payment.RefusedMalformed, "amount.total: want a positive number of fen")
	}
	return t, nil
}

// strictJSON decodes one JSON value into v and nothing after it (unknown
// keys are allowed: the provider adds fields).
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}
