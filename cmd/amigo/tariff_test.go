package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runAmigo(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTariffCheck(t *testing.T) {
	for _, f := range []string{"zj-residential", "gd-residential-tou", "sh-commercial-flat"} {
		code, out, errs := runAmigo("tariff", "check", "../../docs/tariffs/"+f+".json")
		if code != 0 || !strings.HasPrefix(out, "OK / 有效: "+f+" valid from") || errs != "" {
			t.Errorf("%s: exit %d %q %q", f, code, out, errs)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	doc := `{"name": "x", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "colour": "red",
	 "periods": [{"name": "peak", "from": "08:00", "to": "22:00", "price": "0.5680"},
	             {"name": "valley", "from": "21:00", "to": "08:00", "price": "0.28801"}]}`
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runAmigo("tariff", "check", bad)
	for _, want := range []string{"电价文件无效", "  colour: unknown key", "  periods[1].price: \"0.28801\" has more than 4 decimals / 小数位超过 4 位", "  periods[1].from: 21:00–08:00 overlaps periods[0] (peak)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if code != 1 || out != "" {
		t.Errorf("invalid: exit %d, stdout %q", code, out)
	}
	if code, _, errs := runAmigo("tariff", "check", filepath.Join(t.TempDir(), "none.json")); code != 1 || !strings.Contains(errs, "无法读取") {
		t.Errorf("missing file: exit %d %q", code, errs)
	}
	for _, args := range [][]string{{"tariff", "--help"}, {"tariff", "check", "--help"}, {"tariff", "quote", "--help"}, {"help", "tariff"}} {
		if code, out, errs := runAmigo(args...); code != 0 || !strings.Contains(out, "用法") || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// The quote of the command line, computed by hand:
// 2700 kWh before, 2000 peak + 500 valley: tier 1 60, tier 2 2040, tier 3 400.
// 2000 × 0.5680 = 1136.00 yuan = 113600 fen; 500 × 0.2880 = 144.00 = 14400;
// 2040 × 0.05 = 102.00 = 10200; 400 × 0.30 = 120.00 = 12000; total 150200.
func TestTariffQuote(t *testing.T) {
	type line struct {
		Kind, Name, KWh, Price string
		AmountFen              int64 `json:"amount_fen"`
		Note                   string
	}
	var q struct {
		TotalFen int64 `json:"total_fen"`
		Lines    []line
	}
	code, out, errs := runAmigo("tariff", "quote", "--tariff", "../../docs/tariffs/zj-residential.json", "--year-to-date", "2700",
		"--usage", "peak=2000,valley=500", "--date", "2026-03-03")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d %q", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatal(err)
	}
	want := []line{{"energy", "peak", "2000.00", "0.5680", 113600, ""}, {"energy", "valley", "500.00", "0.2880", 14400, ""},
		{"tier", "tier 2", "2040.00", "0.0500", 10200, ""}, {"tier", "tier 3", "400.00", "0.3000", 12000, ""}}
	if q.TotalFen != 150200 || len(q.Lines) != len(want) {
		t.Fatalf("%s", out)
	}
	for i := range want {
		if q.Lines[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, q.Lines[i], want[i])
		}
	}

	// The commercial flat rate for 10 days of January, from its total:
	// 1234.5 × 0.7280 = 898.716 yuan → 89872 fen; 300.00 × 10 / 31 = 96.774 yuan → 9677 fen.
	code, out, errs = runAmigo("tariff", "quote", "--tariff", "../../docs/tariffs/sh-commercial-flat.json", "--total", "1234.5",
		"--date", "2026-01-31", "--standing-days", "10")
	if code != 0 || !strings.Contains(out, `"total_fen":99549`) || !strings.Contains(out, `"amount_fen":9677`) {
		t.Fatalf("exit %d %s %s", code, out, errs)
	}

	// A meter without registers on zj: billed at the first period's price, and said so.
	code, out, _ = runAmigo("tariff", "quote", "--tariff", "../../docs/tariffs/zj-residential.json", "--year-to-date", "0",
		"--total", "10", "--date", "2026-03-03")
	if code != 0 || !strings.Contains(out, `"note":"billed from totals / 按总电量计费"`) || !strings.Contains(out, `"total_fen":568`) {
		t.Fatalf("exit %d %s", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--usage", "peak=1", "--date", "2026-03-03"}, 1, "year_to_date (--year-to-date): required"},
		{[]string{"--usage", "peak=1", "--year-to-date", "0", "--date", "2026-03-03", "--total", "1"}, 1, "只给一种"},
		{[]string{"--usage", "peak=1.00001", "--year-to-date", "0"}, 1, "usage.peak (--usage peak=KWH): \"1.00001\" has more than 4 decimals"},
		{[]string{"--usage", "peak", "--year-to-date", "0"}, 2, "NAME=KWH"},
		{[]string{"--usage", "sharp=1", "--year-to-date", "0", "--date", "2026-03-03"}, 1, `no period "sharp"`},
		{[]string{"--usage", "peak=1", "--year-to-date", "0", "--date", "2026-02-30"}, 1, "date (--date)"},
		{[]string{"--usage", "peak=1", "--year-to-date", "0", "--date", "2026-03-03", "--in-service", "400"}, 1, "in_service_days (--in-service): 400: want 0 to 365"},
		{[]string{"--usage", "peak=1", "--year-to-date", "0", "--date", "2025-12-31"}, 1, "早于该版本生效日期"},
	} {
		args := append([]string{"tariff", "quote", "--tariff", "../../docs/tariffs/zj-residential.json"}, c.args...)
		code, out, errs := runAmigo(args...)
		if code != c.code || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errs, c.code, c.want)
		}
	}
}
