package pki

import (
	"path/filepath"
	"testing"
	"time"
)

// TestTicketKeys: the keys are the same on every call (they survive a
// restart), rotate with the UTC day (today's becomes tomorrow's second),
// and differ between station keys.
func TestTicketKeys(t *testing.T) {
	ca := t.TempDir()
	if err := InitCA(ca, "t"); err != nil {
		t.Fatal(err)
	}
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := IssueServer(ca, d, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	k1, err := TicketKeys(filepath.Join(a, "station.key"), day)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := TicketKeys(filepath.Join(a, "station.key"), day.Add(11*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 2 || k1[0] != k2[0] || k1[1] != k2[1] {
		t.Fatal("the keys of one day differ between calls")
	}
	if k1[0] == k1[1] {
		t.Fatal("today's key is yesterday's")
	}
	next, err := TicketKeys(filepath.Join(a, "station.key"), day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if next[1] != k1[0] || next[0] == k1[0] {
		t.Fatal("the keys do not rotate with the day")
	}
	kb, err := TicketKeys(filepath.Join(b, "station.key"), day)
	if err != nil {
		t.Fatal(err)
	}
	if kb[0] == k1[0] || kb[1] == k1[1] {
		t.Fatal("two station keys give the same ticket keys")
	}
	if _, err := TicketKeys(filepath.Join(a, "station.crt.missing"), day); err == nil {
		t.Fatal("a missing key file gave keys")
	}
}
