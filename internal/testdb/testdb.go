// Package testdb opens fresh stores for tests: a SQLite file in the test's
// temporary directory, or a PostgreSQL database of its own on the server
// AMIGO_TEST_POSTGRES names, created for the test and dropped after it (the
// test is skipped, and says so, when the variable is not set). One helper
// for every package's tests, so that each does not carry its own copy.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/postgres" // also the "pgx" driver of the admin connection
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// Env names the PostgreSQL server the tests may create databases on.
const Env = "AMIGO_TEST_POSTGRES"

// SQLite opens a fresh SQLite store, closed when the test ends.
func SQLite(t testing.TB) amigo.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a fresh PostgreSQL store in a database of its own,
// dropped when the test ends.
func Postgres(t testing.TB) amigo.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // before the database is dropped: cleanups run last first
	return s
}

// PostgresDSN creates an empty database for the test and returns its
// address; the database is dropped (with any connection left) when the
// test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(Env + " not set: skipping PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := "amigo_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// Stores are both stores by name, for tests that run on each.
var Stores = []struct {
	Name string
	Open func(testing.TB) amigo.Store
}{{"sqlite", SQLite}, {"postgres", Postgres}}
