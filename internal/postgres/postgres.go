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
	parts := &partitions{made: map[string]bool{}}
	return &Store{DB: sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Dollar: true, MultiRow: true, BeforeReadings: parts.ensure, CopyReadings: copyRows,
		CommandChannel: CommandChannel}), dsn: dsn}, nil
}

// partitions creates the monthly partitions of readings on demand.
type partitions struct {
	mu   sync.Mutex
	made map[string]bool
}

func (p *partitions) ensure(ctx context.Context, tx *sql.Tx, rs []amigo.Reading) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	locked := false
	for _, r := range rs {
		t := r.Time.UTC()
		from := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		name := fmt.Sprintf("readings_%04d%02d", from.Year(), from.Month())
		if p.made[name] {
			continue
		}
		if !locked {
			// The parent table first, before anything of the partitions,
			// as every reader and writer takes it: several nodes writing
			// the first readings of a month at once, and a reader, each
			// held one of readings_default and the parent and waited for
			// the other (deadlock detected). Once a month per node; it
			// holds readers off until this transaction ends.
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
		if !inDefault {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF readings FOR VALUES FROM (%d) TO (%d)`, name, from.Unix(), to.Unix())); err != nil {
				return fmt.Errorf("postgres: partition %s: %w", name, err)
			}
		}
		p.made[name] = true
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
