// Package amigo holds the domain of the amigo metering platform: sites,
// areas, collectors, meters, customers, readings, events, commands, users and
// the audit log, the service interfaces the engines use, and the error kinds
// every layer speaks. It imports only the standard library.
//
// Units: energy is exact (Energy, 0.0001 kWh); money is integer fen; times
// are instants (stored in UTC); every calendar rule uses the site's zone.
package amigo

import (
	"errors"
	"fmt"
)

// Error kinds. Only the HTTP layer maps them to status codes.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
	ETOOMANY      = "too_many_attempts" // a limit on attempts was reached; try again later
)

// Error is a domain error: a kind, the operation, a message a user may see
// (bilingual where it reaches people), and the cause (never shown).
type Error struct {
	Kind    string
	Op      string
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind for op with a formatted user message.
func Errorf(kind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err, EINTERNAL for errors that are not ours.
func ErrorKind(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error / 内部错误"
}
