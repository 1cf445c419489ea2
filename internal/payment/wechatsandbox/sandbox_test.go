package wechatsandbox

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo/internal/payment"
	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
)

// Key files are made once (0600) and read back the same; a file that does
// not parse is refused, named, and left as it is.
func TestKeyFilesAreNeverReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pay")
	if _, err := LoadKeys(dir, false); err == nil {
		t.Fatal("no key files and no create: want an error")
	}
	k1, err := LoadKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{MerchantKeyFile, PlatformKeyFile, PlatformPublicKeyFile, APIv3KeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	k2, err := LoadKeys(dir, true)
	if err != nil || !k1.Merchant.Equal(k2.Merchant) || !k1.Platform.Equal(k2.Platform) || string(k1.APIv3Key) != string(k2.APIv3Key) ||
		k1.PlatformSerial != k2.PlatformSerial || len(k1.PlatformSerial) != 40 {
		t.Fatalf("read back: %v", err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, PlatformPublicKeyFile))
	if pk, err := wechatpay.ParsePublicKey(pub); err != nil || !pk.Equal(&k1.Platform.PublicKey) {
		t.Fatalf("platform public key file: %v", err)
	}
	short := filepath.Join(dir, APIv3KeyFile)
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	if _, err := LoadKeys(dir, true); err == nil || !strings.Contains(err.Error(), "left as it is") || !strings.Contains(err.Error(), " / ") {
		t.Fatalf("short API v3 key: %v", err)
	}
	if b, _ := os.ReadFile(short); string(b) != "tooshort\n" {
		t.Fatalf("the API v3 key file was changed to %q", b)
	}
	bad := filepath.Join(dir, MerchantKeyFile)
	os.WriteFile(bad, []byte("junk"), 0o600)
	if _, err := LoadKeys(dir, true); err == nil || !strings.Contains(err.Error(), MerchantKeyFile) {
		t.Fatalf("junk merchant key: %v", err)
	}
	if b, _ := os.ReadFile(bad); string(b) != "junk" {
		t.Fatal("the merchant key file was replaced")
	}
}

// The sandbox refuses a request signed with another merchant key, and the
// client refuses an answer signed with another platform key.
func TestSignedBothWays(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	sb := New(Config{Keys: k, MchID: "1900000109"})
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	client := func(merchant, platform Keys) *wechatpay.Client {
		c, err := wechatpay.New(wechatpay.Config{BaseURL: srv.URL, MchID: "1900000109", MerchantKey: merchant.Merchant, MerchantSerial: k.MerchantSerial,
			PlatformKey: &platform.Platform.PublicKey, PlatformSerial: k.PlatformSerial, APIv3Key: k.APIv3Key})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	req := payment.OrderRequest{OrderNo: "AM0000000001", AmountFen: 100, Description: "test", NotifyURL: "http://127.0.0.1:1/notify"}
	ctx := context.Background()
	if _, err := client(other, k).CreateOrder(ctx, req); err == nil || !strings.Contains(err.Error(), "SIGN_ERROR") {
		t.Fatalf("forged merchant: %v", err)
	}
	if _, err := client(k, other).CreateOrder(ctx, req); err == nil || !strings.Contains(err.Error(), "answer refused") {
		t.Fatalf("forged platform answer: %v", err)
	}
	good := client(k, k)
	code, err := good.CreateOrder(ctx, req)
	if err != nil || !strings.HasPrefix(code, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("order: %q %v", code, err)
	}
	// The same order number again is the same order; with another amount
	// it is refused.
	if again, err := good.CreateOrder(ctx, req); err != nil || again != code {
		t.Fatalf("again: %q %v", again, err)
	}
	req.AmountFen = 101
	if _, err := good.CreateOrder(ctx, req); err == nil {
		t.Fatal("same order number, another amount: accepted")
	}
	if po, err := good.QueryOrder(ctx, "AM0000000001"); err != nil || po.State != "NOTPAY" || po.AmountFen != 100 {
		t.Fatalf("query: %+v %v", po, err)
	}
	if _, err := good.QueryOrder(ctx, "AM0000000002"); err != payment.ErrNoOrder {
		t.Fatalf("query unknown: %v", err)
	}
}

// FuzzNativeRequest: the sandbox answers any request to its order
// endpoint with a signed refusal or an order, never a panic; nothing
// unsigned by the merchant makes an order.
func FuzzNativeRequest(f *testing.F) {
	k, err := GenerateKeys()
	if err != nil {
		f.Fatal(err)
	}
	sb := New(Config{Keys: k, MchID: "1900000109"})
	defer sb.Close()
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="n",signature="s",timestamp="1",serial_no="x"`,
		[]byte(`{"appid":"a","mchid":"1900000109","description":"d","out_trade_no":"AM0000001","notify_url":"http://x/","amount":{"total":1}}`))
	f.Add("", []byte("{"))
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		req := httptest.NewRequest("POST", "/v3/pay/transactions/native", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		if rec.Code == 200 {
			t.Fatalf("an order without the merchant's signature: %s", rec.Body.String())
		}
		if rec.Header().Get(wechatpay.HeaderSignature) == "" {
			t.Fatal("an unsigned answer")
		}
	})
}
