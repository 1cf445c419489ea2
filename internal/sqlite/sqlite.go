// Package sqlite is the station's embedded store: one SQLite file in WAL
// mode (pure Go, no server), used by `amigo demo` and small sites.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the pure-Go driver

	"github.com/amigo-metering/amigo/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// readers is how many read-only connections serve reads beside the one
// writer connection.
const readers = 4

// Store is amigo.Store on SQLite.
type Store struct{ *sqlstore.DB }

// Open opens (creating) the database file at path and migrates it. Commits
// are synchronous (FULL): what the station acknowledges is on disk.
func Open(ctx context.Context, path string) (*Store, error) { return openAt(ctx, path, -1) }

// openAt opens the database migrated up to version (-1: the latest).
func openAt(ctx context.Context, path string, version int64) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	p, err := migrator(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	up := p.Up
	if version >= 0 {
		up = func(ctx context.Context) ([]*goose.MigrationResult, error) { return p.UpTo(ctx, version) }
	}
	results, err := up(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := compactAfterPack(ctx, db, path, results); err != nil {
		db.Close()
		return nil, err
	}
	// Plain reads go to a pool of read-only connections: with one writer
	// connection alone, every read waited for the write transaction ahead
	// of it (and the writer for every read).
	reader, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	d := sqlstore.Dialect{Name: "sqlite", TxStatements: true, PackedReadings: version < 0 || version >= packVersion}
	return &Store{sqlstore.NewSplit(db, reader, d)}, nil
}

// compactAfterPack runs VACUUM once, right after the packed-readings
// migration (00011) rewrote the readings: the old table's pages are free
// inside the file until then, and the file never shrinks on its own. It
// needs as much free disk as the file again, for the time it runs.
func compactAfterPack(ctx context.Context, db *sql.DB, path string, results []*goose.MigrationResult) error {
	if len(results) > 0 && results[0].Source != nil && results[0].Source.Version == 1 {
		return nil // a new database: nothing was packed
	}
	for _, r := range results {
		if r.Source == nil || r.Source.Version != packVersion || r.Direction != "up" || r.Error != nil {
			continue
		}
		began := time.Now()
		if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
			return fmt.Errorf("sqlite: compact %s after packing the readings (VACUUM; it needs as much free disk as the file) / 压缩数据库失败: %w", path, err)
		}
		slog.Info("sqlite: compacted after packing the readings", "path", path, "took", time.Since(began))
	}
	return nil
}

// migrator is the goose provider of the SQL migrations and the Go one.
func migrator(db *sql.DB) (*goose.Provider, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	return goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithGoMigrations(packMigration()))
}
