package printing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
)

// pdfText extracts a PDF's text with pdftotext.
func pdfText(t *testing.T, pdf []byte) string { return cupstest.Text(t, pdf) }

func renderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer(os.Getenv("AMIGO_FONT_FILE"))
	if err != nil {
		t.Skipf("no CJK font (%v): install Debian fonts-lxgw-wenkai (.ci/run installs it and fails without it)", err)
	}
	return r
}

func energy(s string) *amigo.Energy {
	e, err := amigo.ParseEnergy(s)
	if err != nil {
		panic(err)
	}
	return &e
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func sampleBill() BillDoc { return SampleBill() }

func TestBillText(t *testing.T) {
	r := renderer(t)
	pdf, err := r.Bill(sampleBill())
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	for _, want := range []string{"电费账单", "Electricity Bill", "户号", "Account No.", "3301-0042-77", "张三", "B2026100001",
		"2026-10-01", "2026-10-31", "缴费截止", "2026-11-20", "峰 peak", "180.00", "0.5680", "102.24", "34.56", "2.50",
		"合计", "139.30", "人民币壹佰叁拾玖元叁角整", "近 12 个月用电量", "25-11", "26-10", "390", "扫码缴费"} {
		if !strings.Contains(text, want) {
			t.Errorf("bill text lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(string(pdf), "FontFile2") {
		t.Error("no embedded TrueType font (FontFile2) in the PDF")
	}
}

func TestReceiptText(t *testing.T) {
	r := renderer(t)
	pdf, err := r.Receipt(ReceiptDoc{Number: "P20261126-0007", Account: "3301-0042-77", AmountFen: 20000, Method: "cash",
		Time: time.Date(2026, 11, 26, 9, 30, 5, 0, time.FixedZone("CST", 8*3600)), Cashier: "李四"})
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	// 20000 fen = 200.00 yuan
	for _, want := range []string{"收款收据", "Payment Receipt", "P20261126-0007", "3301-0042-77", "200.00", "现金 Cash", "2026-11-26 09:30:05", "收款员", "李四", "人民币贰佰元整"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt text lacks %q:\n%s", want, text)
		}
	}
}

func TestBillRefusesBadInput(t *testing.T) {
	r := renderer(t)
	for name, tc := range map[string]struct {
		edit  func(*BillDoc)
		field string
	}{
		"no account":  {func(b *BillDoc) { b.Account = " " }, "account"},
		"wrong total": {func(b *BillDoc) { b.TotalFen = 13931 }, "total_fen"},
		"no lines":    {func(b *BillDoc) { b.Lines = nil }, "lines"},
		"control":     {func(b *BillDoc) { b.Customer = "a\x00b" }, "customer"},
		"period":      {func(b *BillDoc) { b.PeriodTo = date("2026-09-01") }, "period"},
	} {
		b := sampleBill()
		tc.edit(&b)
		_, err := r.Bill(b)
		if err == nil || !strings.Contains(err.Error(), "field "+tc.field) || !strings.Contains(err.Error(), "字段") {
			t.Errorf("%s: got %v, want a bilingual error naming %s", name, err, tc.field)
		}
	}
}

func TestMissingGlyphIsAnError(t *testing.T) {
	r := renderer(t)
	b := sampleBill()
	b.Customer = "𓀀 hieroglyph" // Egyptian hieroglyph: not in a CJK font
	_, err := r.Bill(b)
	if err == nil || !strings.Contains(err.Error(), "U+13000") {
		t.Fatalf("got %v, want an error naming U+13000", err)
	}
}

func TestFontErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewRenderer(filepath.Join(dir, "none.ttf")); err == nil || !strings.Contains(err.Error(), "font_file") || !strings.Contains(err.Error(), "字体") {
		t.Errorf("missing font: %v", err)
	}
	cff := filepath.Join(dir, "cff.otf")
	os.WriteFile(cff, []byte("OTTO\x00\x00\x00\x00\x00\x00\x00\x00"), 0o644)
	if _, err := NewRenderer(cff); err == nil || !strings.Contains(err.Error(), "CFF") {
		t.Errorf("CFF font: %v", err)
	}
	ttc := filepath.Join(dir, "x.ttc")
	os.WriteFile(ttc, []byte("ttcf\x00\x01\x00\x00\x00\x00\x00\x01"), 0o644)
	if _, err := NewRenderer(ttc); err == nil || !strings.Contains(err.Error(), ".ttc") {
		t.Errorf("collection: %v", err)
	}
}
