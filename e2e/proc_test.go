//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one running program: its stdout lines arrive on lines (closed
// when the program's stdout closes); its stderr goes to a file in the work
// directory, shown when the test fails.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string
	stderr string // path
	out    *bytes.Buffer
	exited chan struct{}
}

// run runs a program to its end in dir and returns its stdout; a non-zero
// exit fails the test with its output.
func run(t *testing.T, dir, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", prog, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// start starts a program in dir, in its own process group, and stops it
// (SIGTERM to the group, SIGKILL after 15 s) when the test ends.
func start(t *testing.T, dir, name, prog string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, lines: make(chan string, 4096), stderr: filepath.Join(dir, name+".stderr"), out: &bytes.Buffer{}, exited: make(chan struct{})}
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(filepath.Join(binDir, prog), args...)
	p.cmd.Dir = dir
	p.cmd.Stderr = errf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, pw := io.Pipe()
	p.cmd.Stdout = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	errf.Close()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads that far; the copy in out keeps it
			}
		}
		close(p.lines)
	}()
	go func() { p.cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s: %s\nstdout:\n%s\nstderr (last lines):\n%s", name, strings.Join(p.cmd.Args, " "), p.out.String(), tail(p.stderr, 40))
		}
	})
	return p
}

// kill stops the program's process group: SIGTERM, then SIGKILL after 15 s.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// stop ends the program with SIGTERM and fails the test unless it exits
// cleanly (status 0) within 15 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.kill()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("%s exited with status %d after SIGTERM:\n%s", p.name, code, tail(p.stderr, 20))
	}
}

// expect waits for the next stdout line matching re and returns its first
// submatch (or the whole line); lines before it are kept for the log.
func (p *proc) expect(t *testing.T, re string, within time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(within)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s ended before printing %q:\n%s\nstderr:\n%s", p.name, re, p.out.String(), tail(p.stderr, 20))
			}
			p.out.WriteString(line + "\n")
			if m := rx.FindStringSubmatch(line); m != nil {
				if len(m) > 1 {
					return m[1]
				}
				return m[0]
			}
		case <-deadline:
			t.Fatalf("%s did not print %q within %s:\n%s", p.name, re, within, p.out.String())
		}
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// client calls one HTTP API, with a bearer token once logged in.
type client struct {
	t     *testing.T
	base  string
	token string
}

// call sends body (JSON-encoded, or as is when a string) and decodes the
// answer into out; it returns the status and the raw answer.
func (c *client) call(method, path string, body, out any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

// must is call that fails the test unless the status is want.
func (c *client) must(want int, method, path string, body, out any) string {
	c.t.Helper()
	code, raw := c.call(method, path, body, out)
	if code != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	return raw
}

// poll calls cond every 100 ms until it reports true, and fails the test
// with cond's last account of what it saw when within passes first.
func poll(t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not within %s: %s; last seen: %s", within, what, state)
		}
	}
}

// cents parses a register such as "3178.10" (kWh, two decimals) into
// hundredths of a kWh, exactly.
func cents(t *testing.T, s string) int64 {
	t.Helper()
	var whole, frac int64
	neg := strings.HasPrefix(s, "-")
	i, f, ok := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if _, err := fmt.Sscanf(i, "%d", &whole); err != nil || (ok && len(f) != 2) {
		t.Fatalf("energy %q: want digits with two decimals", s)
	}
	if ok {
		if _, err := fmt.Sscanf(f, "%d", &frac); err != nil {
			t.Fatalf("energy %q: %v", s, err)
		}
	}
	v := whole*100 + frac
	if neg {
		v = -v
	}
	return v
}

// kwh formats hundredths of a kWh as the API writes energy: "656.80".
func kwh(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
