package q1376

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Message authentication of downlink frames (amigo's use of PW and Tp).
//
// A master's frame of an AFN that carries PW (01 reset, 04 set, 05
// control, 06, 0F, 10 forwarding) is signed: Tp holds the start-frame
// counter PFC, the send time (ss mm hh DD, the sender's local time) and the
// allowed delay in minutes, and PW holds
//
//	PW = HMAC-SHA256(K_t, user data without PW)[0:16]
//
// where the user data is C, A (5), AFN, SEQ, the data units, EC if any, and
// Tp — every byte between the second 68 and CS except the PW itself. K_t is
// the terminal's key (32 bytes), derived from the station's master key:
//
//	K_t = HMAC-SHA256(master, "amigo q1376 downlink key v1" || A1 (2, LE) || A2 (2, LE))
//
// so a collector holds only its own key and the station only the master.
// The receiver checks, in this order, the PW, that the Tp is present, has a
// delay and is within it on the receiver's clock (TpFresh), and that the
// frame is newer than every signed frame it accepted before (see
// docs/link.md §1: the (send time, PFC) rule, kept by the collector).

// PWLen is the length of the PW field, and of the code amigo puts in it.
const PWLen = pwLen

// KeyLen is the length of a terminal key.
const KeyLen = sha256.Size

// keyLabel separates the derivation of terminal keys from other uses of the
// master key; "v1" changes if the derivation ever does.
const keyLabel = "amigo q1376 downlink key v1"

// Errors of Verify.
var (
	ErrNoPW  = errors.New("q1376: frame carries no PW")
	ErrBadPW = errors.New("q1376: PW is not the frame's authentication code")
	ErrNoTp  = errors.New("q1376: signed frame without a time tag")
)

// TerminalKey derives terminal a's downlink key from the station's master
// key (only A1 and A2 count: the MSA and group flag do not).
func TerminalKey(master []byte, a Address) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(keyLabel))
	m.Write([]byte{byte(a.A1), byte(a.A1 >> 8), byte(a.A2), byte(a.A2 >> 8)})
	return m.Sum(nil)
}

// MAC returns the 16-byte authentication code of f under key: the first 16
// bytes of HMAC-SHA256 over f's user data without its PW.
func MAC(f *Frame, key []byte) ([]byte, error) {
	g := *f
	g.PW = nil
	enc, err := AppendFrame(make([]byte, 0, 64), &g)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(enc[headerLen : len(enc)-2])
	return m.Sum(nil)[:pwLen], nil
}

// Sign sets f's PW to its authentication code under key. f must be a
// master's frame of an AFN that carries PW, with its Tp set (the caller
// stamps it: the codec reads no clock).
func Sign(f *Frame, key []byte) error {
	if f.Control.Dir() || !f.AFN.HasPW() {
		return fmt.Errorf("q1376: AFN %02X from the terminal or without PW cannot be signed", byte(f.AFN))
	}
	if f.Tp == nil {
		return ErrNoTp
	}
	pw, err := MAC(f, key)
	if err != nil {
		return err
	}
	f.PW = pw
	return nil
}

// Verify checks f's PW against key in constant time; it returns ErrNoPW,
// ErrBadPW or ErrNoTp (checked after the PW: the Tp is inside the code).
// Whether the Tp is fresh, and the frame new, is the receiver's to check.
func Verify(f *Frame, key []byte) error {
	if len(f.PW) != pwLen {
		return ErrNoPW
	}
	want, err := MAC(f, key)
	if err != nil {
		return ErrBadPW
	}
	if subtle.ConstantTimeCompare(want, f.PW) != 1 {
		return ErrBadPW
	}
	if f.Tp == nil {
		return ErrNoTp
	}
	return nil
}

// TpAt returns the time tag of a frame sent at t (its civil fields in t's
// location) with counter pfc and an allowed delay d, rounded up to whole
// minutes and held to 1..255.
func TpAt(pfc uint8, t time.Time, d time.Duration) *Tp {
	m := (d + time.Minute - 1) / time.Minute
	m = max(1, min(m, 255))
	return &Tp{PFC: pfc, Second: t.Second(), Minute: t.Minute(), Hour: t.Hour(), Day: t.Day(), Delay: uint8(m)}
}

// SentAt returns the instant the tag was sent, taken as the one of the
// months around now (in now's location) whose day, hour, minute and second
// are the tag's nearest to now; ok is false when the tag names no time in
// them (day 31 in a 30-day month, hour 24, …).
func (tp Tp) SentAt(now time.Time) (at time.Time, ok bool) {
	if tp.Day < 1 || tp.Day > 31 || tp.Hour > 23 || tp.Minute > 59 || tp.Second > 59 {
		return time.Time{}, false
	}
	best := time.Duration(-1)
	for _, dm := range []int{-1, 0, 1} {
		first := time.Date(now.Year(), now.Month()+time.Month(dm), 1, 0, 0, 0, 0, now.Location())
		t := time.Date(first.Year(), first.Month(), tp.Day, tp.Hour, tp.Minute, tp.Second, 0, now.Location())
		if t.Month() != first.Month() {
			continue // the day does not exist in that month
		}
		if d := now.Sub(t).Abs(); best < 0 || d < best {
			at, best = t, d
		}
	}
	return at, best >= 0
}

// TpFresh reports whether the tag's send time is within its allowed delay
// of now. A tag without a delay (0, "no check") is not fresh: a signed
// frame must expire.
func TpFresh(tp Tp, now time.Time) bool {
	at, ok := tp.SentAt(now)
	if !ok || tp.Delay == 0 {
		return false
	}
	return now.Sub(at).Abs() <= time.Duration(tp.Delay)*time.Minute
}
