//go:build unix

// Package e2e runs amigo's real programs — `amigo station`, `amigo sim`,
// `amigo-collector` and `amigo admin`/`amigo ca` — as separate processes
// and checks what an operator sees through the API. It has only tests.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir holds the amigo and amigo-collector binaries TestMain built ("" in
// -short mode: the tests skip).
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "amigo-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goCmd, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is needed to build the programs:", err)
		os.Exit(1)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/amigo-metering/amigo/cmd/amigo", "github.com/amigo-metering/amigo/cmd/amigo-collector")
	if out, err := exec.Command(goCmd, args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %v: %v\n%s", args, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
