// Package postgres is the station's multi-node store: PostgreSQL shared by
// several stateless station nodes, readings partitioned by month.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is amigo.Store on PostgreSQL.
type Store struct {
	*sqlstore.DB
	dsn string
}

// CommandChannel is the channel every created command is notified on
// (payload: the meter id).
const CommandChannel = "amigo_commands"

// MaxConns is the most connections one Store holds, all kept open once
// made. Without a bound database/sql opened one per concurrent query (the
// station runs 64 workers) and kept only 2 idle, so a loaded station
// connected and disconnected all the time (each connection a server
// process, and its reading-staging table made again), and three stations
// ran the server out of connections (max_connections, 100 by default).
// The same store code runs on SQLite with a single connection, so no
// caller needs two at once.
const MaxConns = 16

// Open connects to the database named by dsn and migrates it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := analyzeStale(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	parts := &partitions{made: map[string]bool{}}
	return &Store{DB: sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Dollar: true, MultiRow: true, BeforeReadings: parts.ensure, CopyReadings: copyRows,
		CommandChannel: CommandChannel}), dsn: dsn}, nil
}

// archiveTables are the tables a station lists as it starts: its archive.
var archiveTables = []string{"sites", "areas", "collectors", "meters"}

// analyzeStale analyzes each archive table that changed by more than
// autovacuum's own threshold (50 rows and a tenth of the table) since its
// statistics were taken. Autovacuum does the same, but only on its next
// round, up to a minute later; a station started right after an archive
// was built (100,000 meters created through the API) planned its listings
// on an empty table's statistics until then: a listing of one collector's
// 100 meters read the whole table (6.7 ms a call against 0.2 ms), and the
// three stations' startup listings took 26.7 s of the server's CPU
// (pg_stat_statements) instead of about 1 s. Several nodes starting at once
// each may analyze; ANALYZE samples at most 30,000 rows a table.
func analyzeStale(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname = ANY($1) AND n_mod_since_analyze > 50 + n_live_tup / 10`, archiveTables)
	if err != nil {
		return fmt.Errorf("postgres: statistics: %w", err)
	}
	var stale []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: statistics: %w", err)
		}
		stale = append(stale, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: statistics: %w", err)
	}
	for _, name := range stale {
		// name is one of archiveTables, never input.
		if _, err := db.ExecContext(ctx, "ANALYZE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: analyze %s: %w", name, err)
		}
	}
	return nil
}

// partitions creates the monthly partitions of readings on demand.
type partitions struct {
	mu   sync.Mutex
	made map[string]bool
}

func (p *partitions) ensure(ctx context.Context, begin func() (*sql.Tx, error), rs []amigo.Reading) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var tx *sql.Tx
	locked := false
	var created map[string]bool // made by this call
	var last time.Time          // the month of the reading before
	for _, r := range rs {
		t := r.Time.UTC()
		from := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		if from.Equal(last) {
			continue // a batch is mostly one month: its name formatted once
		}
		last = from
		name := fmt.Sprintf("readings_%04d%02d", from.Year(), from.Month())
		if p.made[name] || created[name] {
			continue
		}
		if tx == nil {
			var err error
			if tx, err = begin(); err != nil {
				return fmt.Errorf("postgres: partition %s: %w", name, err)
			}
		}
		if !locked {
			// Made by another node (or before this one started): no lock.
			// Only the nodes that find it missing take the lock, and the
			// one that creates it holds it for its short transaction.
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
				return fmt.Errorf("postgres: partition %s: %w", name, err)
			}
			if exists {
				p.made[name] = true
				continue
			}
			// The parent table first, before anything of the partitions,
			// as every reader and writer takes it: several nodes writing
			// the first readings of a month at once, and a reader, each
			// held one of readings_default and the parent and waited for
			// the other (deadlock detected). Once a month; it holds readers
			// off until this transaction ends.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE readings IN ACCESS EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("postgres: partition %s: lock readings: %w", name, err)
			}
			locked = true
		}
		to := from.AddDate(0, 1, 0)
		// A month with rows already in the default partition keeps them
		// there: attaching would fail, so it is left as it is.
		var inDefault bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM readings_default WHERE t >= $1 AND t < $2)`, from.Unix(), to.Unix()).Scan(&inDefault); err != nil {
			return fmt.Errorf("postgres: partition %s: %w", name, err)
		}
		if inDefault {
			p.made[name] = true // stays in the default partition
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF readings FOR VALUES FROM (%d) TO (%d)`, name, from.Unix(), to.Unix())); err != nil {
			return fmt.Errorf("postgres: partition %s: %w", name, err)
		}
		// Remembered once seen committed (to_regclass, next write): the
		// transaction that made it may still fail to commit.
		if created == nil {
			created = map[string]bool{}
		}
		created[name] = true
	}
	return nil
}

// copyRows copies rows into table with COPY on conn's pgx connection,
// inside the transaction open on it.
func copyRows(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres: copy: not a pgx connection (%T)", dc)
		}
		n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("postgres: copy: %w", err)
		}
		if int(n) != len(rows) {
			return fmt.Errorf("postgres: copy: %d of %d rows", n, len(rows))
		}
		return nil
	})
}
