// Package archive is the station's archive (档案): sites, areas, collectors,
// meters and users, created, changed and retired by people through the API
// and `amigo admin`. Every field is validated here (the store keeps what it
// is given); sites, areas and collectors are named by name or address, as in
// the CSV files; every change is audited with who and what (never a
// password); a CSV import is one transaction, all rows or none, audited
// whether it succeeds or not, with the bad line named.
//
// Messages are bilingual ("English / 中文"). The package reaches storage only
// through amigo.Store.
package archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Kinds of archive table, as named in the API and the CSV files.
const (
	KindSites      = "sites"
	KindAreas      = "areas"
	KindCollectors = "collectors"
	KindMeters     = "meters"
	KindUsers      = "users"
)

// Kinds lists the archive tables in the order an import into an empty
// station must follow.
var Kinds = []string{KindSites, KindCollectors, KindAreas, KindMeters, KindUsers}

// Service does the archive's operations on a store.
type Service struct {
	store amigo.Store
	now   func() time.Time
}

// New returns the archive service; now gives the time of changes (audit,
// retirement, installation).
func New(store amigo.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// invalid returns an EINVALID error for op.
func invalid(op, format string, args ...any) error {
	return amigo.Errorf(amigo.EINVALID, op, format, args...)
}

// change runs fn in one transaction and appends the audit entry it returns
// in the same transaction: the change and its audit line are kept together
// or not at all.
func (s *Service) change(ctx context.Context, actor string, fn func(tx amigo.Store, res *resolver) (action, object, detail string, err error)) error {
	return s.store.WithTx(ctx, func(tx amigo.Store) error {
		action, object, detail, err := fn(tx, newResolver(tx))
		if err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: s.now(), Actor: actor, Action: action, Object: object, Detail: detail})
	})
}

// field is one named value of an archive row, for audit details; a secret's
// value is never written, only that it was set or changed.
type field struct {
	name, value string
	secret      bool
}

// describe renders fields as "name=value, ..." for a creation.
func describe(fs []field) string {
	var b strings.Builder
	for _, f := range fs {
		if f.value == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if f.secret {
			fmt.Fprintf(&b, "%s set", f.name)
			continue
		}
		fmt.Fprintf(&b, "%s=%s", f.name, f.value)
	}
	return b.String()
}

// diff renders what changed between two descriptions of the same row as
// "name: old -> new, ..."; "no change" when nothing did.
func diff(before, after []field) string {
	var parts []string
	for i := range before {
		if before[i].value == after[i].value {
			continue
		}
		if before[i].secret {
			parts = append(parts, before[i].name+" changed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %q -> %q", before[i].name, before[i].value, after[i].value))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

func itoa[T ~int | ~int64](v T) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprint(v)
}

func btoa(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func tstr(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
