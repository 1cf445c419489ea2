package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The configuration is one JSON object of known keys: garbage after it, a
// second object or an unknown key is refused.
func TestStationConfigIsStrict(t *testing.T) {
	good := `{"http":":8080","metrics_token":"0123456789abcdef","trusted_proxies":["10.0.0.0/8","192.0.2.7","::1"]}`
	cfg, err := parseStationConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	o, err := apiOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 10.0.0.0/8, 192.0.2.7/32, ::1/128.
	if o.MetricsToken != "0123456789abcdef" || len(o.TrustedProxies) != 3 || o.TrustedProxies[1].String() != "192.0.2.7/32" || o.TrustedProxies[2].String() != "::1/128" {
		t.Fatalf("%+v", o)
	}
	for _, bad := range []string{good + " x", good + good, `{"htp":":80"}`, `[]`, ``, `{"trusted_proxies":"10.0.0.0/8"}`} {
		if _, err := parseStationConfig([]byte(bad)); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if _, err := parseStationConfig([]byte(`{"http":"` + strings.Repeat("a", maxConfigBytes) + `"}`)); err == nil {
		t.Fatal("a config over the bound was accepted")
	}
	if _, err := apiOptions(StationConfig{TrustedProxies: []string{"proxy.example"}}); err == nil || !strings.Contains(err.Error(), " / ") {
		t.Fatalf("bad proxy: %v", err)
	}
}

// FuzzStationConfig: any bytes either are refused or decode into a
// configuration that survives a round trip, and whose API settings are
// accepted or refused without a panic.
func FuzzStationConfig(f *testing.F) {
	f.Add([]byte(`{"store":"sqlite:amigo.db","http":":8080","collectors_tls":":7001","heartbeat":"60s"}`))
	f.Add([]byte(`{"metrics_token":"0123456789abcdef","trusted_proxies":["10.0.0.0/8","::1"]}`))
	f.Add([]byte(`{"max_conns":-1,"max_conns_per_source":1e9}`))
	f.Add([]byte(`{"http":":8080"} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseStationConfig(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := parseStationConfig(again)
		if err != nil || !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, cfg, cfg2)
		}
		apiOptions(cfg)
	})
}
