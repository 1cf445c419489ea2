package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/readingblob"
)

// The readings table has one of two layouts; the queries are the same,
// their column list, kind argument, insert arguments and scan differ:
//
//   - columns (PostgreSQL): one column per field, kind, quality and source
//     as text (readingCols, readingArgs, scanReading);
//   - packed (Dialect.PackedReadings, SQLite): the key (meter_id, kind, t),
//     flags, and v, the other fields encoded by readingblob; kind, quality
//     and source are ids of the name table reading_names, whose first ids
//     are readingblob.Fixed. The key is the table's primary key (WITHOUT
//     ROWID), so there is no second index.
//
// Ids of reading_names never change once committed; they are kept in memory
// (names). A transaction's own new names stay with it (added) until it
// commits.

const packedCols = `meter_id, kind, t, flags, v`

// names is the committed part of reading_names, shared by a store's DBs.
type names struct {
	mu     sync.RWMutex
	byName map[string]int64
	byID   map[int64]string
	// loading is held by loadNames, loads counts its reads of the table:
	// readers that miss names at once (a restarted station's first pass
	// over thousands of collectors, each with a source name of its own)
	// wait for one read instead of each reading the table.
	loading sync.Mutex
	loads   atomic.Uint64
}

func newNames() *names {
	n := &names{byName: map[string]int64{}, byID: map[int64]string{}}
	for id, name := range readingblob.Fixed {
		n.byName[name], n.byID[int64(id)] = int64(id), name
	}
	return n
}

// added are the names a transaction inserted into reading_names (safe for
// the concurrent use a transaction allows).
type added struct {
	mu     sync.Mutex
	byName map[string]int64
	byID   map[int64]string
}

func newAdded() *added { return &added{byName: map[string]int64{}, byID: map[int64]string{}} }

func (a *added) name(id int64) (string, bool) {
	if a == nil {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	name, ok := a.byID[id]
	return name, ok
}

// publish makes a committed transaction's names known to all.
func (n *names) publish(a *added) {
	if n == nil || a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.byName) == 0 {
		return
	}
	n.mu.Lock()
	for name, id := range a.byName {
		n.byName[name], n.byID[id] = id, name
	}
	n.mu.Unlock()
}

// unknownName: a stored row names an id this process has not seen
// (another process added it); the names are read again.
type unknownName struct{ id int64 }

func (e *unknownName) Error() string { return fmt.Sprintf("reading name id %d not known", e.id) }

// nameID returns the id of name in reading_names, read through q (a's
// transaction, or the database when a is nil); with create it adds a
// missing name (in a, published when the transaction commits), otherwise
// ok is false for a name that no reading can have.
func (s *DB) nameID(ctx context.Context, q querier, a *added, name string, create bool) (id int64, ok bool, err error) {
	s.nm.mu.RLock()
	id, ok = s.nm.byName[name]
	s.nm.mu.RUnlock()
	if ok {
		return id, true, nil
	}
	if a != nil {
		// Held until the name is known: every name the transaction adds
		// is added under it, so one that q finds and a does not hold was
		// committed before.
		a.mu.Lock()
		defer a.mu.Unlock()
		if id, ok = a.byName[name]; ok {
			return id, true, nil
		}
	}
	switch err = q.QueryRowContext(ctx, `SELECT id FROM reading_names WHERE name = ?`, name).Scan(&id); {
	case err == nil:
		s.nm.mu.Lock()
		s.nm.byName[name], s.nm.byID[id] = id, name
		s.nm.mu.Unlock()
		return id, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, fmt.Errorf("reading name %q: %w", name, err)
	case !create:
		return 0, false, nil
	}
	if a == nil {
		return 0, false, fmt.Errorf("reading name %q: a new name needs a transaction", name)
	}
	if err := q.QueryRowContext(ctx, `INSERT INTO reading_names (name) VALUES (?) RETURNING id`, name).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("reading name %q: %w", name, err)
	}
	a.byName[name], a.byID[id] = id, name
	return id, true, nil
}

// nameOf returns the name of id (*unknownName when neither the store
// nor a knows it).
func (s *DB) nameOf(a *added, id int64) (string, error) {
	s.nm.mu.RLock()
	name, ok := s.nm.byID[id]
	s.nm.mu.RUnlock()
	if ok {
		return name, nil
	}
	if name, ok = a.name(id); ok {
		return name, nil
	}
	return "", &unknownName{id}
}

// loadNames reads reading_names again through q, unless the name of id
// (the one missed) is known by the time it is its turn: another reader
// read them meanwhile.
func (s *DB) loadNames(ctx context.Context, q querier, a *added, id int64) error {
	s.nm.loading.Lock()
	defer s.nm.loading.Unlock()
	if _, err := s.nameOf(a, id); err == nil {
		return nil
	}
	s.nm.loads.Add(1)
	rows, err := q.QueryContext(ctx, `SELECT id, name FROM reading_names`)
	if err != nil {
		return err
	}
	defer rows.Close()
	got := newAdded()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		if _, mine := a.name(id); mine {
			continue
		}
		got.byName[name], got.byID[id] = id, name
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.nm.publish(got)
	return nil
}

// rcols is the column list of the readings table's layout.
func (s *DB) rcols() string {
	if s.nm != nil {
		return packedCols
	}
	return readingCols
}

// kindArg is what a query compares the kind column with; ok is false when
// no stored reading can have kind.
func (s *DB) kindArg(ctx context.Context, q querier, a *added, kind string) (any, bool, error) {
	if s.nm == nil {
		return kind, true, nil
	}
	id, ok, err := s.nameID(ctx, q, a, kind, false)
	return id, ok, err
}

// rowWriter builds the insert arguments of readings in the table's layout,
// reusing its buffers from one reading to the next (the arguments are
// valid until the next call).
type rowWriter struct {
	s    *DB
	q    querier
	a    *added
	args []any
	blob []byte
	// The last names looked up: a batch repeats them.
	kind, quality, source       string
	kindID, qualityID, sourceID int64
}

func (w *rowWriter) row(ctx context.Context, r *amigo.Reading) ([]any, error) {
	if w.s.nm == nil {
		w.args = append(w.args[:0], readingArgs(*r)...)
		return w.args, nil
	}
	var err error
	if w.kindID, w.kind, err = w.id(ctx, r.Kind, w.kind, w.kindID); err != nil {
		return nil, err
	}
	if w.qualityID, w.quality, err = w.id(ctx, r.Quality, w.quality, w.qualityID); err != nil {
		return nil, err
	}
	if w.sourceID, w.source, err = w.id(ctx, r.Source, w.source, w.sourceID); err != nil {
		return nil, err
	}
	w.blob = readingblob.Append(w.blob[:0], r, readingblob.Names{Quality: w.qualityID, Source: w.sourceID})
	w.args = append(w.args[:0], r.MeterID, w.kindID, unix(r.Time), r.Flags, w.blob)
	return w.args, nil
}

// id interns name, or returns last's id when it is the same name.
func (w *rowWriter) id(ctx context.Context, name, last string, lastID int64) (int64, string, error) {
	if name == last && last != "" {
		return lastID, last, nil
	}
	id, _, err := w.s.nameID(ctx, w.q, w.a, name, true)
	return id, name, err
}

// scanRow reads a row of rcols.
func (s *DB) scanRow(rows *sql.Rows, a *added, blob *sql.RawBytes) (amigo.Reading, error) {
	if s.nm == nil {
		return scanReading(rows)
	}
	var r amigo.Reading
	var kind, t int64
	if err := rows.Scan(&r.MeterID, &kind, &t, &r.Flags, blob); err != nil {
		return r, err
	}
	r.Time = fromUnix(t)
	n, err := readingblob.Parse(*blob, &r)
	if err != nil {
		return r, fmt.Errorf("reading of meter %d at %d: %w", r.MeterID, t, err)
	}
	if r.Kind, err = s.nameOf(a, kind); err != nil {
		return r, err
	}
	if r.Quality, err = s.nameOf(a, n.Quality); err != nil {
		return r, err
	}
	r.Source, err = s.nameOf(a, n.Source)
	return r, err
}

// readReadings runs query (through q, in a's transaction when a is set) and
// returns its rows, of rcols, as readings, those of the same meter and
// instant in kind order. A row naming an id not known yet has the names
// read again (by this reader, or by another that missed them at the same
// time) and the query run again, up to three times.
func (s *DB) readReadings(ctx context.Context, q querier, a *added, query func() (*sql.Rows, error)) ([]amigo.Reading, error) {
	for try := 0; ; try++ {
		out, err := s.scanReadings(a, query)
		// A few times: a name read by another reader is not a read of
		// every name this query can meet.
		var miss *unknownName
		if errors.As(err, &miss) && try < 3 {
			if err := s.loadNames(ctx, q, a, miss.id); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if s.nm != nil {
			sortKinds(out)
		}
		return out, nil
	}
}

func (s *DB) scanReadings(a *added, query func() (*sql.Rows, error)) ([]amigo.Reading, error) {
	rows, err := query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []amigo.Reading
	var blob sql.RawBytes
	for rows.Next() {
		r, err := s.scanRow(rows, a, &blob)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sortKinds puts readings of the same meter and instant in the order of
// their kinds' names (the queries' ORDER BY … kind), which the packed
// layout's kind ids do not follow.
func sortKinds(rs []amigo.Reading) {
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j].MeterID == rs[i].MeterID && rs[j].Time.Equal(rs[i].Time) {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(rs[i:j], func(x, y amigo.Reading) int { return cmp.Compare(x.Kind, y.Kind) })
		}
		i = j
	}
}
