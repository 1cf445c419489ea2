package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// With metrics_token set, /metrics without it shows neither the API's nor
// the front end's counters; with it, both.
func TestMetricsTokenGuardsFrontMetrics(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := api.New(st, nil, time.Now, nil, nil)
	opts, err := apiOptions(StationConfig{MetricsToken: "metrics-token-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetOptions(opts); err != nil {
		t.Fatal(err)
	}
	h := withFrontMetrics(srv, fep.New(fep.Config{}, st))
	get := func(auth string) (int, string) {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := get(""); code != 401 || strings.Contains(body, "amigo_fep") || strings.Contains(body, "amigo_meters") {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, body := get("Bearer metrics-token-0123456789"); code != 200 || !strings.Contains(body, "amigo_fep_") || !strings.Contains(body, "amigo_meters{") {
		t.Fatalf("token: %d %s", code, body)
	}
}
