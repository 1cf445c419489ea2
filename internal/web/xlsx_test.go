package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/amigo-metering/amigo"
)

// postFile uploads b as the archive import's file, with the page's CSRF
// token, in language l.
func postFile(t *testing.T, c *http.Client, base, l, kind, name string, b []byte) (int, string) {
	t.Helper()
	if res, err := c.Get(base + "/lang/" + l + "?next=/archive"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	_, page := get(t, c, base+"/archive")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no csrf token on /archive")
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", m[1])
	mw.WriteField("kind", kind)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(b)
	mw.Close()
	res, err := c.Post(base+"/archive/import", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

func getBytes(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// The archive leaves as a workbook and comes back: station A's meters
// exported as .xlsx, meter 1 taken out (station B has it), imported into
// B through the same form as a CSV; B's CSV export then reads as A's. A bad cell refuses the whole workbook naming its row;
// a broken workbook is refused in both languages.
func TestArchiveXLSXRoundTrip(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			a := newFixture(t, s.open(t), 6)
			b := newFixture(t, s.open(t), 1)
			ca, cb := a.client(t), b.client(t)
			a.login(t, ca, "admin", adminPW)
			b.login(t, cb, "admin", adminPW)

			_, csvA := getBytes(t, ca, a.srv.URL+"/archive/export/meters")
			res, x := getBytes(t, ca, a.srv.URL+"/archive/export/meters/xlsx")
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != xlsxType || !strings.Contains(res.Header.Get("Content-Disposition"), "meters.xlsx") {
				t.Fatalf("xlsx export: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
			}
			f, err := excelize.OpenReader(bytes.NewReader(x))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := f.GetRows("meters")
			if err != nil {
				t.Fatal(err)
			}
			// A header and six meters; the address keeps its zeros (a text cell).
			if len(rows) != 7 || !strings.Contains(strings.Join(rows[2], ","), "000000000002") {
				t.Fatalf("sheet rows: %q", rows)
			}
			// The export is audited as the CSV's is.
			es, _ := a.st.ListAudit(context.Background(), 20)
			n := 0
			for _, e := range es {
				if e.Action == "export.meters" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("export.meters audited %d times, want 2 (csv, xlsx)", n)
			}

			// Every kind's workbook holds its CSV export cell for cell.
			for _, kind := range archiveKinds {
				_, c := getBytes(t, ca, a.srv.URL+"/archive/export/"+kind)
				want, err := csv.NewReader(bytes.NewReader(c)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				res, x := getBytes(t, ca, a.srv.URL+"/archive/export/"+kind+"/xlsx")
				wb, err := excelize.OpenReader(bytes.NewReader(x))
				if res.StatusCode != http.StatusOK || err != nil {
					t.Fatalf("%s.xlsx: %d %v", kind, res.StatusCode, err)
				}
				got, _ := wb.GetRows(kind)
				wb.Close()
				want[0][0] = strings.TrimPrefix(want[0][0], "\ufeff")
				for i := range min(len(got), len(want)) { // GetRows drops a row's empty tail cells
					for len(got[i]) < len(want[i]) {
						got[i] = append(got[i], "")
					}
				}
				if len(want) < 2 || !reflect.DeepEqual(got, want) {
					t.Errorf("%s.xlsx:\n%q\nwant the CSV's\n%q", kind, got, want)
				}
			}

			if err := f.RemoveRow("meters", 2); err != nil { // meter 000000000001
				t.Fatal(err)
			}
			// Row 4 of the trimmed sheet (meter 4) gets a bad address.
			bad, _ := excelize.OpenReader(bytes.NewReader(x))
			bad.RemoveRow("meters", 2)
			col := 0
			for i, h := range rows[0] {
				if h == "address" {
					col = i + 1
				}
			}
			cell, _ := excelize.CoordinatesToCellName(col, 4)
			bad.SetCellStr("meters", cell, "12ab")
			var good, broken bytes.Buffer
			f.Write(&good)
			bad.Write(&broken)
			f.Close()
			bad.Close()

			for l, want := range map[string]string{"zh": "第4行", "en": "line 4"} {
				code, body := postFile(t, cb, b.srv.URL, l, "meters", "meters.xlsx", broken.Bytes())
				if code != http.StatusBadRequest || !strings.Contains(body, want) {
					t.Errorf("%s: bad cell: %d, want 400 naming %q\n%s", l, code, want, body)
				}
			}
			if _, n, _ := b.st.ListMeters(context.Background(), amigo.MeterFilter{Limit: 1}); n != 1 {
				t.Fatalf("a refused workbook kept rows: %d meters, want 1", n)
			}
			for l, want := range map[string]string{"zh": "不是可读取的 Excel 工作簿", "en": "not a readable Excel workbook"} {
				code, body := postFile(t, cb, b.srv.URL, l, "meters", "broken.xlsx", append([]byte("PK\x03\x04"), x[4:len(x)/2]...))
				if code != http.StatusBadRequest || !strings.Contains(body, want) {
					t.Errorf("%s: broken workbook: %d, want 400 with %q\n%s", l, code, want, body)
				}
			}

			code, body := postFile(t, cb, b.srv.URL, "en", "meters", "meters.xlsx", good.Bytes())
			if code != http.StatusSeeOther {
				t.Fatalf("import: %d\n%s", code, body)
			}
			_, csvB := getBytes(t, cb, b.srv.URL+"/archive/export/meters")
			// B's own meter 1 and the five imported: A's export, line for line.
			if string(csvB) != string(csvA) || strings.Count(string(csvB), "\n") != 7 {
				t.Errorf("B's meters after the import:\n%s\nwant A's:\n%s", csvB, csvA)
			}
		})
	}
}

// The workbook decoder never panics, and what it accepts is CSV whose
// rows are all as wide as the header.
func FuzzXLSXToCSV(f *testing.F) {
	x, err := csvToXLSX("sites", []byte("name,time_zone\nCampus,Asia/Shanghai\n\nB,\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(x)
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("name\nx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := xlsxToCSV(b)
		if err != nil {
			if amigo.ErrorKind(err) != amigo.EINVALID {
				t.Fatalf("error of kind %v: %v", amigo.ErrorKind(err), err)
			}
			return
		}
		if len(out) > 32<<20 {
			t.Fatalf("%d bytes of CSV", len(out))
		}
	})
}
