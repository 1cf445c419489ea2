package wechatpay

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/payment"
)

var fuzzKey = []byte("0123456789abcdefABCDEF0123456789")

// seedNotification is a genuine notification body under fuzzKey.
func seedNotification(t testing.TB, tx Transaction) []byte {
	pt, _ := json.Marshal(tx)
	res, err := Encrypt(fuzzKey, "transaction", pt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(Notification{ID: "EV-1", CreateTime: "2026-11-25T10:00:00+08:00", ResourceType: "encrypt-resource",
		EventType: "TRANSACTION.SUCCESS", Summary: "支付成功", Resource: res})
	return b
}

// FuzzDecodeNotification: any body decodes to a transaction or to a
// *payment.Refusal, never a panic; what decodes has the fields checked.
func FuzzDecodeNotification(f *testing.F) {
	good := Transaction{MchID: "1900000109", OutTradeNo: "AM20261125020000000001", TransactionID: "4200000001", TradeState: "SUCCESS",
		SuccessTime: "2026-11-25T10:00:00+08:00", Amount: Amount{Total: 5000}}
	f.Add(seedNotification(f, good))
	bad := good
	bad.Amount.Total = 0
	f.Add(seedNotification(f, bad))
	f.Add([]byte(`{"resource_type":"encrypt-resource","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"123456789012","ciphertext":"AAAA"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, err := DecodeNotification(fuzzKey, body)
		if err != nil {
			var rf *payment.Refusal
			if !errors.As(err, &rf) || rf.Reason == "" {
				t.Fatalf("error %v is not a refusal", err)
			}
			return
		}
		if tx.OutTradeNo == "" || len(tx.OutTradeNo) > 32 || tx.Amount.Total <= 0 || (tx.TradeState == "SUCCESS" && tx.TransactionID == "") {
			t.Fatalf("decoded an unchecked transaction %+v", tx)
		}
	})
}

// Encrypt and Decrypt round-trip; a changed associated data, nonce or
// ciphertext, a wrong key or a wrong algorithm does not decrypt.
func TestResourceCrypto(t *testing.T) {
	res, err := Encrypt(fuzzKey, "transaction", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Decrypt(fuzzKey, res); err != nil || string(pt) != `{"a":1}` {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	for name, r := range map[string]Resource{
		"associated data": {Algorithm: res.Algorithm, Ciphertext: res.Ciphertext, AssociatedData: "other", Nonce: res.Nonce},
		"nonce":           {Algorithm: res.Algorithm, Ciphertext: res.Ciphertext, AssociatedData: res.AssociatedData, Nonce: "AAAAAAAAAAAA"},
		"short nonce":     {Algorithm: res.Algorithm, Ciphertext: res.Ciphertext, AssociatedData: res.AssociatedData, Nonce: "A"},
		"algorithm":       {Algorithm: "AES_128", Ciphertext: res.Ciphertext, AssociatedData: res.AssociatedData, Nonce: res.Nonce},
		"ciphertext":      {Algorithm: res.Algorithm, Ciphertext: "AAAA" + res.Ciphertext[4:], AssociatedData: res.AssociatedData, Nonce: res.Nonce},
	} {
		if _, err := Decrypt(fuzzKey, r); err == nil {
			t.Errorf("%s changed: decrypted", name)
		}
	}
	if _, err := Decrypt(bytes.Repeat([]byte("k"), 32), res); err == nil {
		t.Error("another key decrypted")
	}
	if _, err := Decrypt([]byte("short"), res); err == nil {
		t.Error("a short key was taken")
	}
}

// The message a signature covers is "timestamp\nnonce\nbody\n" (and for
// a request, "METHOD\npath\n" before it).
func TestMessages(t *testing.T) {
	if got := string(Message("1700000000", "n0nce", []byte(`{"x":1}`))); got != "1700000000\nn0nce\n{\"x\":1}\n" {
		t.Fatalf("Message %q", got)
	}
	if got := string(RequestMessage("GET", "/v3/pay/transactions/out-trade-no/A1?mchid=1", "1", "n", nil)); got != "GET\n/v3/pay/transactions/out-trade-no/A1?mchid=1\n1\nn\n\n" {
		t.Fatalf("RequestMessage %q", got)
	}
}

// FuzzParseNotification: any headers and body are verified or refused
// with a *payment.Refusal, never accepted without the platform's
// signature, never a panic.
func FuzzParseNotification(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024) // small: fuzzing speed; the code takes any size
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", MchID: "1900000109", MerchantKey: key, MerchantSerial: "M",
		PlatformKey: &key.PublicKey, PlatformSerial: "P", APIv3Key: fuzzKey})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1795572000, 0)
	body := seedNotification(f, Transaction{MchID: "1900000109", OutTradeNo: "AM1", TransactionID: "42", TradeState: "SUCCESS", Amount: Amount{Total: 1}})
	sig, _ := Sign(key, Message("1795572000", "abc", body))
	f.Add("1795572000", "abc", "P", sig, body)
	f.Add("1795572000", "abc", "Q", sig, body)
	f.Add("x", "", "", "", []byte("{}"))
	f.Fuzz(func(t *testing.T, ts, nonce, serial, signature string, body []byte) {
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderSerial, serial)
		h.Set(HeaderSignature, signature)
		o, err := c.ParseNotification(h, body, now)
		if err != nil {
			var rf *payment.Refusal
			if !errors.As(err, &rf) {
				t.Fatalf("error %v is not a refusal", err)
			}
			return
		}
		if Verify(&key.PublicKey, Message(ts, nonce, body), signature) != nil || serial != "P" || o.OrderNo == "" {
			t.Fatalf("accepted without a valid signature: %+v", o)
		}
	})
}
