package loadtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Archiver creates the bench's archive: directly in the store of an
// embedded station, or through the archive API of an external one.
type Archiver interface {
	CreateSite(ctx context.Context, s *amigo.Site) error
	CreateArea(ctx context.Context, a *amigo.Area) error
	CreateCollector(ctx context.Context, c *amigo.Collector) error
	CreateMeter(ctx context.Context, m *amigo.Meter) error
}

// sqlDB is implemented by the SQL stores (internal/sqlstore).
type sqlDB interface{ SQL() *sql.DB }

// fastSetup turns SQLite's per-commit fsync off for the archive's set-up
// (not measured; the station reopens the file with synchronous FULL) and
// returns the function that turns it back on. Other stores are left as
// they are.
func fastSetup(ctx context.Context, st amigo.Store, kind string) func() {
	db, ok := st.(sqlDB)
	if !ok || kind != "sqlite" {
		return func() {}
	}
	// The SQLite store keeps one connection, so the pragma holds for
	// every statement that follows on it.
	if _, err := db.SQL().ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
		return func() {}
	}
	return func() { db.SQL().ExecContext(context.Background(), "PRAGMA synchronous=FULL") }
}

// APIArchiver creates the archive through a station's archive API
// (POST /api/v1/sites, /areas, /collectors, /meters) with an admin token.
type APIArchiver struct {
	Base   string // http://host:port
	Token  string
	Client *http.Client
}

func (a *APIArchiver) post(ctx context.Context, path string, body any) (int64, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.Base, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.Token)
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(rb))
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.ID == 0 {
		return 0, fmt.Errorf("POST %s: the answer carries no id: %s", path, bytes.TrimSpace(rb))
	}
	return out.ID, nil
}

// CreateSite posts {"name","time_zone"}.
func (a *APIArchiver) CreateSite(ctx context.Context, s *amigo.Site) (err error) {
	s.ID, err = a.post(ctx, "/api/v1/sites", map[string]any{"name": s.Name, "time_zone": s.TimeZone})
	return err
}

// CreateArea posts {"site","name"}.
func (a *APIArchiver) CreateArea(ctx context.Context, ar *amigo.Area) (err error) {
	ar.ID, err = a.post(ctx, "/api/v1/areas", map[string]any{"site": ar.SiteID, "name": ar.Name})
	return err
}

// CreateCollector posts {"site","address","name","plain_tcp"}.
func (a *APIArchiver) CreateCollector(ctx context.Context, c *amigo.Collector) (err error) {
	c.ID, err = a.post(ctx, "/api/v1/collectors", map[string]any{"site": c.SiteID, "address": c.Address, "name": c.Name, "plain_tcp": c.PlainTCP})
	return err
}

// CreateMeter posts {"address","site","area","collector","port","pn",...}.
func (a *APIArchiver) CreateMeter(ctx context.Context, m *amigo.Meter) (err error) {
	body := map[string]any{"address": m.Address, "site": m.SiteID, "area": m.AreaID, "phases": m.Phases, "rated_amps": m.RatedAmps,
		"password": m.Password, "protocol": m.Protocol, "installed_at": m.InstalledAt.Format(time.RFC3339)}
	if m.Direct {
		body["direct"], body["imei"], body["secret"] = true, m.IMEI, m.RegSecret
	} else {
		body["collector"], body["port"], body["pn"] = m.CollectorID, m.Port, m.Pn
	}
	m.ID, err = a.post(ctx, "/api/v1/meters", body)
	return err
}
