package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo/q1376"
)

func TestCollectorKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "downlink.key")
	master, err := downlinkKey(path, true)
	if err != nil || len(master) != 32 {
		t.Fatalf("created key %x %v", master, err)
	}
	if again, err := downlinkKey(path, true); err != nil || !bytes.Equal(again, master) {
		t.Fatalf("the key changed on the second read: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode())
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"collector-key", "--key-file", path, "0171-2082"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := hex.EncodeToString(q1376.TerminalKey(master, q1376.Address{A1: 0x0171, A2: 2082}))
	if strings.TrimSpace(out.String()) != want {
		t.Fatalf("printed %q, want %s", out.String(), want)
	}
	// A damaged (short) file is an error and stays as it is.
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("abcd\n"), 0o600)
	if _, err := downlinkKey(short, true); err == nil {
		t.Fatal("a 2-byte key was accepted")
	}
	if b, _ := os.ReadFile(short); string(b) != "abcd\n" {
		t.Fatalf("the short key file was replaced: %q", b)
	}
	out.Reset()
	if code := run(context.Background(), []string{"collector-key", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "auth_key") {
		t.Fatalf("--help: exit %d, %q", code, out.String())
	}
	if code := run(context.Background(), []string{"collector-key", "--key-file", path, "nonsense"}, &out, &errb); code != 2 {
		t.Fatalf("a bad address: exit %d", code)
	}
}
