package clilog

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestAddressesAreStrings(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		f := Flags{Format: format, Level: "info"}
		log, err := f.New(&buf)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("x", "remote", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7001}, "terminal", terminal{0x0171, 1})
		want := `"remote":"127.0.0.1:7001"`
		if format == "text" {
			want = "remote=127.0.0.1:7001"
		}
		if !strings.Contains(buf.String(), want) || strings.Contains(buf.String(), "Port") || !strings.Contains(buf.String(), "0171-1") {
			t.Errorf("%s: %s", format, buf.String())
		}
	}
}

func TestLevelsAndVerbose(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var f Flags
	f.Register(fs, "warn")
	if err := fs.Parse([]string{"-v"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := f.New(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("shown")
	if !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Errorf("-v does not log debug: %q", buf.String())
	}
	buf.Reset()
	f = Flags{Level: "warn"}
	log, _ = f.New(&buf)
	log.Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn: %q", buf.String())
	}
	if _, err := (&Flags{Level: "loud"}).New(&buf); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := (&Flags{Level: "info", Format: "xml"}).New(&buf); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format: %v", err)
	}
}

// terminal is a 1376.1 terminal address as q1376 has it: fields and a String.
type terminal struct{ A1, A2 uint16 }

func (t terminal) String() string { return fmt.Sprintf("%04X-%d", t.A1, t.A2) }
