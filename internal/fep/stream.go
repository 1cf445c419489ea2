package fep

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/amigo-metering/amigo/dlt645"
)

// The GPRS stream. A DTU (or a GPRS meter's modem) opens the connection and
// sends its registration line, then heartbeat lines while idle; between them
// the meter's DL/T 645 replies arrive as raw frames:
//
//	REG <address> <imei> <secret>\r\n     registration, first thing, once
//	HB <anything>\r\n                      heartbeat (any line starting with A-Z)
//	FE FE FE FE 68 A0..A5 68 C L DATA CS 16 a DL/T 645 frame (preamble optional)
//
// A line starts with an upper-case ASCII letter, holds printable ASCII and
// ends with LF (CR before it is dropped); it is at most MaxLine bytes, LF
// included. A letter followed by a non-printable byte is noise, not a line. A 645 frame starts with
// 68H and is at most dlt645.HeaderLen+255+2 bytes. Other bytes between tokens
// (preamble FEH, line noise) are skipped. Nothing longer than the limits is
// ever buffered: the scanner's buffer is MaxGPRSBuffer.
const (
	MaxLine       = 128
	MaxGPRSBuffer = 1024
	// maxSecret bounds the registration secret.
	maxSecret = 64
)

// ErrLineTooLong is returned by SplitGPRS when a line has no LF within
// MaxLine bytes; the connection is dropped.
var ErrLineTooLong = errors.New("fep: gprs line longer than 128 bytes")

// isLetter: lines start with an upper-case ASCII letter (68H, the 645 start
// byte, is a lower-case 'h').
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }

// lineAt looks for a line at the start of b: printable ASCII (CR allowed)
// up to LF. It returns the line's length with its LF, or ok when b may be a
// line still arriving (or one too long, when MaxLine bytes hold no LF).
func lineAt(b []byte, atEOF bool) (n int, ok bool) {
	for j := 0; j < len(b) && j < MaxLine; j++ {
		switch c := b[j]; {
		case c == '\n':
			return j + 1, true
		case c == '\r' || c >= 0x20 && c <= 0x7E:
		default:
			return 0, false
		}
	}
	return 0, !atEOF
}

// SplitGPRS is a bufio.SplitFunc for the GPRS stream: each token is either a
// line (without its CR LF) or a whole DL/T 645 frame (from its first 68H).
// Use IsLine to tell them apart.
func SplitGPRS(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case isLetter(c):
			n, ok := lineAt(data[i:], atEOF)
			switch {
			case n > 0:
				line := bytes.TrimSuffix(data[i:i+n-1], []byte{'\r'})
				return i + n, line, nil
			case ok && len(data)-i >= MaxLine:
				return 0, nil, ErrLineTooLong
			case ok:
				return i, nil, nil // a line still arriving
			}
			// not a line: skip the letter as noise
		case c == dlt645.Start:
			total, wait := frameAt(data[i:], atEOF)
			if total > 0 {
				return i + total, data[i : i+total], nil
			}
			if wait {
				return i, nil, nil
			}
			// no frame starts here: skip the 68H
		}
	}
	return len(data), nil, nil
}

// frameAt looks for a DL/T 645 frame starting at b[0] (a 68H): it returns
// its length, or wait when b may be the start of one still arriving.
func frameAt(b []byte, atEOF bool) (total int, wait bool) {
	if len(b) < dlt645.HeaderLen {
		return 0, !atEOF
	}
	if b[7] != dlt645.Start {
		return 0, false
	}
	n := dlt645.HeaderLen + int(b[9]) + 2
	if len(b) < n {
		if atEOF {
			return 0, false
		}
		// A frame still arriving, or a false start whose length byte is
		// large: a complete frame later in the window wins.
		if _, tok, _ := dlt645.Split(b[1:], false); tok != nil {
			return 0, false
		}
		return 0, true
	}
	var sum byte
	for _, c := range b[:n-2] {
		sum += c
	}
	if b[n-2] != sum || b[n-1] != dlt645.End {
		return 0, false
	}
	return n, false
}

// IsLine reports whether a token from SplitGPRS is a line (not a frame).
func IsLine(tok []byte) bool { return len(tok) > 0 && isLetter(tok[0]) }

// Registration is a parsed registration line.
type Registration struct {
	Address dlt645.Address
	IMEI    string // 15 digits
	Secret  string // 1-64 printable ASCII characters, no spaces
}

// ParseRegistration parses "REG <address> <imei> <secret>" (the line from
// SplitGPRS, without CR LF). The errors say what is wrong, never echoing the
// secret.
func ParseRegistration(line []byte) (Registration, error) {
	var r Registration
	if len(line) > MaxLine {
		return r, ErrLineTooLong
	}
	fields := strings.Fields(string(line))
	if len(fields) == 0 || fields[0] != "REG" {
		return r, errors.New("fep: not a registration line (want REG <address> <imei> <secret>)")
	}
	if len(fields) != 4 {
		return r, fmt.Errorf("fep: registration has %d fields, want 4 (REG <address> <imei> <secret>)", len(fields))
	}
	a, err := dlt645.ParseAddress(fields[1])
	if err != nil || len(fields[1]) != 12 {
		return r, fmt.Errorf("fep: registration address %q is not 12 digits", clip(fields[1]))
	}
	if !digits(fields[2], 15) {
		return r, fmt.Errorf("fep: registration IMEI %q is not 15 digits", clip(fields[2]))
	}
	s := fields[3]
	if len(s) > maxSecret {
		return r, fmt.Errorf("fep: registration secret is %d characters, at most %d", len(s), maxSecret)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return r, fmt.Errorf("fep: registration secret has a byte %02X outside printable ASCII", s[i])
		}
	}
	return Registration{Address: a, IMEI: fields[2], Secret: s}, nil
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens a field for an error message.
func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
