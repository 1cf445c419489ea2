package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Negative and absurd values are refused, bilingually, not silently
// replaced by defaults or obeyed.
func TestConfigRefusesAbsurdValues(t *testing.T) {
	base := `{"terminal":"0171-2082","stations":["127.0.0.1:1"],"plain_tcp":true,`
	for _, x := range []string{`"heartbeat":"-5m"`, `"heartbeat":"8760h"`, `"realtime_every":"1ns"`, `"timeout":"1h"`, `"retries":-1`, `"retries":1000000`, `"store_cap_rows":-3`, `"reconnect_max":"-1s"`} {
		c, err := parseConfig([]byte(base + x + `}`))
		if err != nil {
			t.Fatalf("%s: %v", x, err)
		}
		c.DataDir = t.TempDir()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), " / ") {
			t.Fatalf("%s accepted: %v", x, err)
		}
	}
	c, _ := parseConfig([]byte(base + `"heartbeat":"1h","realtime_every":"1s","retries":10}`))
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatalf("the bounds themselves: %v", err)
	}
}

// FuzzLoadConfig: any configuration file is refused or loads and validates
// into values inside the bounds, without a panic.
func FuzzLoadConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/collector.example.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"terminal":"0171-2082","stations":["127.0.0.1:1"],"plain_tcp":true,"ports":[{"number":1,"address":"127.0.0.1:2"}],"meters":[{"address":"000000000001","port":1,"pn":1}]}`))
	f.Add([]byte(`{"terminal":"0171-2082","stations":["a:1"],"plain_tcp":true,"heartbeat":"-1s","retries":-5,"time_zone":"Mars/Olympus"}`))
	f.Add([]byte(`{"terminal":"0171-0000"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "c.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path)
		if err != nil {
			return
		}
		c.DataDir = dir
		if err := c.Validate(); err != nil {
			return
		}
		if c.Heartbeat < Duration(time.Nanosecond) || c.Heartbeat > Duration(time.Hour) || c.RealtimeEvery < Duration(time.Second) ||
			c.Retries < 0 || c.Retries > 10 || c.StoreCap <= 0 || c.Timeout <= 0 || c.Timeout > Duration(time.Minute) || c.Loc == nil {
			t.Fatalf("validated out of bounds: %+v", c)
		}
	})
}
