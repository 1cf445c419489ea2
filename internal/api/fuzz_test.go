package api

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// FuzzVerifyToken: any bearer token is refused unless it is one the server
// signed for a user who is still there; nothing panics and the store is
// reached only after the signature holds.
func FuzzVerifyToken(f *testing.F) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "a.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	u := amigo.User{Username: "root", PasswordHash: testHash("password-root"), Role: amigo.RoleAdmin}
	if err := st.CreateUser(ctx, &u); err != nil {
		f.Fatal(err)
	}
	srv := New(st, noCommands{}, time.Now, []byte("0123456789abcdef0123456789abcdef"), nil)
	good := srv.sign(u, time.Now().Add(time.Hour))
	f.Add(good)
	f.Add(good + "x")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(srv.sign(amigo.User{ID: 99}, time.Now().Add(time.Hour)))
	f.Add(srv.sign(u, time.Now().Add(-time.Hour)))
	f.Add("")
	f.Add(".")
	f.Add(strings.Repeat("A", 600))
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := srv.verify(ctx, tok)
		if err == nil && (p.ID != u.ID || p.User != "root" || p.Role != amigo.RoleAdmin) {
			t.Fatalf("%q accepted as %+v", tok, p)
		}
		if amigo.ErrorKind(err) == amigo.EUNAVAILABLE {
			t.Fatalf("store error for %q: %v", tok, err)
		}
	})
}

// FuzzQueryParams: any query string gives a page within the bounds and
// times within the years, or a bilingual 400.
func FuzzQueryParams(f *testing.F) {
	f.Add("limit=10&offset=20&from=2026-01-01&to=2026-01-02T00:00:00Z")
	f.Add("limit=-1&offset=99999999999999999999&since=0001-01-01")
	f.Add("from=9999-12-31T23:59:59%2B14:00")
	f.Add("from=%zz&limit=1e3")
	loc := amigo.Site{}.Location()
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = raw
		bad := func(err error) {
			if amigo.ErrorKind(err) != amigo.EINVALID || !strings.Contains(amigo.ErrorMessage(err), " / ") {
				t.Fatalf("%q: %v", raw, err)
			}
		}
		limit, offset, err := queryPage(r, 100)
		if err != nil {
			bad(err)
		} else if limit < 1 || limit > maxPage || offset < 0 || offset > maxOffset {
			t.Fatalf("%q: limit %d offset %d", raw, limit, offset)
		}
		for _, k := range []string{"from", "to", "since", "day"} {
			tm, err := parseTime(r.URL.Query().Get(k), loc, time.Date(2026, 1, 1, 0, 0, 0, 0, loc))
			if err != nil {
				bad(err)
			} else if !yearOK(tm) {
				t.Fatalf("%q: %s = %v", raw, k, tm)
			}
		}
	})
}
