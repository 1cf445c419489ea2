package printing

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cups is a cupsd of the test's own: its own configuration, port, spool,
// cache, state and log directories, and one cups-pdf printer, amigo-pdf.
type cups struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// needCUPS skips, saying why, when this machine cannot run the test's own
// CUPS: .ci/run installs every piece and fails without them, so CI never
// skips.
func needCUPS(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"cupsd", "lpadmin", "pdftotext"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				t.Skipf("%s not found: install Debian cups, cups-client, poppler-utils (.ci/run does)", bin)
			}
		}
	}
	if _, err := os.Stat("/usr/lib/cups/backend/cups-pdf"); err != nil {
		t.Skip("cups-pdf backend not found: install Debian printer-driver-cups-pdf (.ci/run does)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the cups-pdf backend runs only as root, so this test's cupsd needs root (CI runs as root)")
	}
}

func bin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCUPS writes the configuration and starts cupsd with the amigo-pdf
// printer (cups-pdf, with pdftocairo turning the PDF into the PostScript
// cups-pdf takes, so that the text stays text).
func startCUPS(t *testing.T) *cups {
	t.Helper()
	needCUPS(t)
	// Filters run as the lp user: the directories must be reachable, which
	// t.TempDir's 0700 is not.
	dir, err := os.MkdirTemp("", "amigo-cups-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"spool", "spool/tmp", "cache", "state", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &cups{t: t, dir: dir, port: freePort(t)}
	conf := fmt.Sprintf(`Listen 127.0.0.1:%d
LogLevel info
WebInterface No
DefaultAuthType None
Browsing No
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order allow,deny
    Allow all
  </Limit>
</Policy>
`, c.port)
	files := fmt.Sprintf(`ServerRoot %[1]s
RequestRoot %[1]s/spool
TempDir %[1]s/spool/tmp
CacheDir %[1]s/cache
StateDir %[1]s/state
ErrorLog %[1]s/log/error_log
AccessLog %[1]s/log/access_log
PageLog %[1]s/log/page_log
User lp
Group lp
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "cupsd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cups-files.conf"), []byte(files), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start()
	t.Cleanup(c.stop)
	out, err := exec.Command(bin("lpadmin"), "-h", c.host(), "-p", "amigo-pdf", "-E", "-v", "cups-pdf:/",
		"-P", "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd", "-o", "pdftops-renderer-default=pdftocairo").CombinedOutput()
	if err != nil {
		t.Fatalf("lpadmin: %v: %s", err, out)
	}
	return c
}

func (c *cups) host() string { return fmt.Sprintf("127.0.0.1:%d", c.port) }

// URI is the amigo-pdf printer's IPP URI.
func (c *cups) URI() string { return fmt.Sprintf("ipp://127.0.0.1:%d/printers/amigo-pdf", c.port) }

// start runs cupsd in the foreground and waits until it answers HTTP.
func (c *cups) start() {
	c.t.Helper()
	c.cmd = exec.Command(bin("cupsd"), "-f", "-c", filepath.Join(c.dir, "cupsd.conf"), "-s", filepath.Join(c.dir, "cups-files.conf"))
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.Stdout, c.cmd.Stderr = os.Stderr, os.Stderr
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("cupsd: %v", err)
	}
	c.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(c.cmd, c.done)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + c.host() + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("cupsd exited: %s", c.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cupsd did not answer on %s in 20 s: %v\n%s", c.host(), err, c.log())
		}
	}
}

// stop ends cupsd (and the filters it started) and waits for it.
func (c *cups) stop() {
	if c.cmd == nil {
		return
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	c.cmd = nil
}

func (c *cups) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "log", "error_log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (c *cups) admin(args ...string) {
	c.t.Helper()
	name := args[0]
	out, err := exec.Command(bin(name), append([]string{"-h", c.host()}, args[1:]...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// anonDir is where cups-pdf writes the jobs of a user the system does not
// know: AnonDirName in /etc/cups/cups-pdf.conf (its default otherwise).
func anonDir() string {
	dir := "/var/spool/cups-pdf/ANONYMOUS"
	f, err := os.Open("/etc/cups/cups-pdf.conf")
	if err != nil {
		return dir
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "AnonDirName" {
			dir = fields[1]
		}
	}
	return dir
}

// testUser is a requesting-user-name no system has, so that cups-pdf
// writes to its anonymous directory.
const testUser = "amigo-print-test"

// output waits for the PDF cups-pdf wrote for the job named name (its file
// name starts with the job name) and returns it; the file is removed when
// the test ends.
func output(t *testing.T, name string) []byte {
	t.Helper()
	dir := anonDir()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, name+"*.pdf"))
		if len(m) > 1 {
			t.Fatalf("%d outputs for job %s: %v", len(m), name, m)
		}
		if len(m) == 1 {
			b, err := os.ReadFile(m[0])
			t.Cleanup(func() { os.Remove(m[0]) })
			if err == nil && len(b) > 0 && strings.HasSuffix(strings.TrimSpace(string(b[max(0, len(b)-32):])), "%%EOF") {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output for %s in %s after 30 s", name, dir)
		}
		time.Sleep(50 * time.Millisecond) // polling the file system: cups-pdf gives no other signal
	}
}

// waitJob waits until the job is done on the printer and returns its state.
func waitJob(t *testing.T, c *Client, printer string, id int) JobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		st, err := c.Job(ctx, printer, id)
		if err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		if st.Done() {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %d not done in 60 s: state %d %v", id, st.State, st.Reasons)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
