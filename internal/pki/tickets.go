package pki

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Session resumption. A collector that connects again (after a network
// drop, or the station's restart) resumes its TLS 1.3 session with the
// ticket the station gave it, skipping the certificate signatures of a full
// handshake (a fresh key exchange still runs: Go resumes with PSK-DHE
// only, so resumed sessions keep forward secrecy). Mutual authentication
// holds: the ticket carries the collector's certificate chain as verified
// at the full handshake, and on resumption Go checks that the certificate
// has not expired and that its chain is still rooted in the station's
// current collector CA (a session from a CA no longer trusted is not
// resumed); the station's login check (the certificate's name against the
// terminal address, the terminal in the archive and not retired) runs on
// every login, resumed or not.
//
// The ticket keys are derived from the station's private key (HKDF-SHA256,
// a label of their own, the UTC day), so that tickets survive a restart
// without a key file of their own to keep: whoever holds them could forge
// a ticket, and whoever holds the station's key can already impersonate
// the station. They rotate daily; a ticket is accepted on the day it was
// issued and the next, and tickets of a station with another key are not
// (the client falls back to a full handshake).

// ticketLabel separates the ticket keys from any other use of the key.
const ticketLabel = "amigo station TLS session ticket key v1"

// TicketKeys returns the session ticket keys of the station whose private
// key is in keyFile (PEM) at now: today's (UTC), which seals new tickets,
// and yesterday's, which still opens them.
func TicketKeys(keyFile string, now time.Time) ([][32]byte, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read the station key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || len(blk.Bytes) == 0 {
		return nil, errors.New("pki: the station key file holds no PEM block / 主站私钥文件无PEM块")
	}
	day := now.UTC().Unix() / 86400
	keys := make([][32]byte, 0, 2)
	for _, d := range []int64{day, day - 1} {
		info := binary.BigEndian.AppendUint64([]byte(ticketLabel), uint64(d))
		k, err := hkdf.Key(sha256.New, blk.Bytes, nil, string(info), 32)
		if err != nil {
			return nil, fmt.Errorf("pki: derive the ticket key: %w", err)
		}
		keys = append(keys, [32]byte(k))
	}
	return keys, nil
}

// KeepTicketKeys sets cfg's session ticket keys from keyFile (TicketKeys)
// and sets them again every hour until ctx ends, so that they follow the
// UTC day. The first setting's error is returned at once; later ones are
// passed to fail and the previous keys stay.
func KeepTicketKeys(ctx context.Context, cfg *tls.Config, keyFile string, now func() time.Time, fail func(error)) error {
	set := func() error {
		keys, err := TicketKeys(keyFile, now())
		if err != nil {
			return err
		}
		cfg.SetSessionTicketKeys(keys)
		return nil
	}
	if err := set(); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := set(); err != nil && fail != nil {
					fail(err)
				}
			}
		}
	}()
	return nil
}
