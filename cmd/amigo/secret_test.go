package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret file shorter than 32 bytes is refused, bilingually, and left as
// it is; a missing one is made (32 bytes, 0600) and then read back the
// same. Before the fix the short file was silently replaced, ending every
// token signed with it.
func TestSecretFileIsNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secret(short); err == nil || !strings.Contains(err.Error(), "10 bytes") || !strings.Contains(err.Error(), " / ") {
		t.Fatalf("short secret: %v", err)
	}
	if b, _ := os.ReadFile(short); string(b) != "0123456789" {
		t.Fatalf("the short secret file was changed to %q", b)
	}
	fresh := filepath.Join(dir, "fresh.key")
	k1, err := secret(fresh)
	if err != nil || len(k1) != 32 {
		t.Fatalf("new secret: %d bytes, %v", len(k1), err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	k2, err := secret(fresh)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := secret(filepath.Join(dir, "no", "such", "dir.key")); err == nil || !strings.Contains(err.Error(), " / ") {
		t.Fatalf("uncreatable: %v", err)
	}
}
