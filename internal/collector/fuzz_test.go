package collector_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/q1376"
)

// FuzzHandleStationFrame: whatever the station sends, the collector answers
// with frames that encode, or not at all; it never panics.
func FuzzHandleStationFrame(f *testing.F) {
	b, err := os.ReadFile("../../q1376/testdata/q1376-vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vs []struct{ Hex string }
	json.Unmarshal(b, &vs)
	for _, v := range vs {
		raw, _ := hex.DecodeString(strings.ReplaceAll(v.Hex, " ", ""))
		f.Add(raw)
	}
	a := q1376.Address{A1: 0x0171, A2: 2082}
	for _, fr := range []*q1376.Frame{
		q1376.Request(a, q1376.AFNClass2, 1, nil, q1376.NewUnit(1, 161, q1376.Day{Year: 2026, Month: 1, Day: 1}.AppendTd(nil))),
		q1376.Request(a, q1376.AFNClass1, 2, nil, q1376.Unit{Pn: []uint16{q1376.AllPoints}, Fn: []uint16{129, 131}}),
		q1376.Request(a, q1376.AFNControl, 3, nil, q1376.NewUnit(1, 1, []byte{0})),
		q1376.Request(a, q1376.AFNQuery, 4, nil, q1376.NewUnit(0, 10, []byte{0, 0})),
		q1376.Request(a, q1376.AFNClass3, 5, nil, q1376.NewUnit(0, q1376.FnImportantEvents, q1376.EventsRequest(3, 2))),
		q1376.Request(a, q1376.AFNControl, 6, nil, q1376.NewUnit(0, q1376.FnTimeSync, q1376.AppendClock(nil, q1376.Clock{DateTime: q1376.DateTime{Year: 2026, Month: 1, Day: 1}}))),
	} {
		raw, _ := q1376.AppendFrame(nil, fr)
		f.Add(raw)
	}
	dir := f.TempDir()
	st, err := colsqlite.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	// With a key: commands go through the verifier. A signed seed (sent
	// now) passes it once; the fuzzer's variants are refused.
	key := q1376.TerminalKey([]byte("fuzz master"), a)
	trip := q1376.Request(a, q1376.AFNControl, 7, nil, q1376.NewUnit(1, 1, []byte{0}))
	trip.Tp = q1376.TpAt(0, time.Now(), 5*time.Minute)
	if err := q1376.Sign(trip, key); err != nil {
		f.Fatal(err)
	}
	raw, _ := q1376.AppendFrame(nil, trip)
	f.Add(raw)
	c, err := collector.New(collector.Config{Terminal: "0171-2082", Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: dir,
		AuthKey: hex.EncodeToString(key), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st)
	if err != nil {
		f.Fatal(err)
	}
	s := c.NewSession()
	f.Fuzz(func(t *testing.T, b []byte) {
		replies, _ := s.Handle(context.Background(), b)
		for _, r := range replies {
			if _, err := q1376.AppendFrame(nil, r); err != nil {
				t.Fatalf("reply does not encode: %v", err)
			}
		}
	})
}

func TestExampleConfigIsValid(t *testing.T) {
	c, err := collector.LoadConfig("../../docs/collector.example.json")
	if err != nil {
		t.Fatal(err)
	}
	c.DataDir = t.TempDir()
	// The key file the example names, here with a made-up key.
	c.AuthKeyFile = filepath.Join(c.DataDir, "authkey")
	if err := os.WriteFile(c.AuthKeyFile, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Meters) != 3 || len(c.Ports) != 2 {
		t.Fatalf("example: %d meters, %d ports", len(c.Meters), len(c.Ports))
	}
}
