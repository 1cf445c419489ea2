package amigo

import (
	"context"
	"time"
)

// TariffVersion is one stored version of a tariff document (package
// tariff reads and checks it; the domain keeps it as text). A version is
// never changed or deleted: a bill records the version it used.
type TariffVersion struct {
	Name      string    `json:"name"`
	ValidFrom string    `json:"valid_from"` // YYYY-MM-DD, the first site-local day in force
	Document  []byte    `json:"-"`          // the JSON document as loaded
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// TariffStore keeps tariff versions.
//
// Errors: ECONFLICT when the name already has a version from that day,
// EINTERNAL otherwise.
type TariffStore interface {
	// PutTariff stores a new version.
	PutTariff(ctx context.Context, v TariffVersion) error
	// ListTariffs returns the versions of name (every name when name is
	// ""), by name, oldest first; none is an empty list, not an error.
	ListTariffs(ctx context.Context, name string) ([]TariffVersion, error)
}
