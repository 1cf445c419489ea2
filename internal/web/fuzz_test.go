package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The pages' decoders of outside input: an amount in yuan, a return path,
// a language preference. None panics; what they accept is bounded.
func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"50", "12.5", "0.01", "100000", "", ".", "1e3", "-1", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := parseYuan(s)
		if err != nil {
			return
		}
		if fen < 1 || fen > 10_000_000 {
			t.Fatalf("parseYuan(%q) = %d: outside 1..10000000 fen", s, fen)
		}
		// What it accepts reads back as itself: yuan.fen of the same value.
		if again, err := parseYuan(fmtFen(fen)); err != nil || again != fen {
			t.Fatalf("parseYuan(%q) = %d, but %q reads as %d, %v", s, fen, fmtFen(fen), again, err)
		}
	})
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/meters?x=1", "//evil.example", "/\\evil", "https://x", "", "/a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := localPath(s)
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
			t.Fatalf("localPath(%q) = %q leaves the site", s, p)
		}
	})
}

func FuzzLang(f *testing.F) {
	for _, s := range []string{"zh-CN,zh;q=0.9", "en-US", "", "fr, en;q=0.5", strings.Repeat("a,", 100)} {
		f.Add(s, "")
		f.Add(s, "en")
	}
	f.Fuzz(func(t *testing.T, accept, cookie string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", accept)
		if cookie != "" && !strings.ContainsAny(cookie, "\x00;\r\n\" ") {
			r.Header.Set("Cookie", langCookie+"="+cookie)
		}
		if l := langOf(r); l != "zh" && l != "en" {
			t.Fatalf("langOf = %q", l)
		}
		_ = lang("en").Pick(accept)
	})
}
