// Package cupstest runs a CUPS of a test's own: cupsd with its own
// configuration, free port, spool, cache, state and log directories, and a
// cups-pdf printer named amigo-pdf; and reads what cups-pdf printed.
package cupstest

import (
	"bufio"
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

// Server is a cupsd of the test's own: its own configuration, port, spool,
// cache, state and log directories, and one cups-pdf printer, amigo-pdf.
type Server struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Need skips, saying why, when this machine cannot run the test's own
// CUPS: .ci/run installs every piece and fails without them, so CI never
// skips.
func Need(t testing.TB) {
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

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start writes the configuration and starts cupsd with the amigo-pdf
// printer (cups-pdf, with pdftocairo turning the PDF into the PostScript
// cups-pdf takes, so that the text stays text).
func Start(t testing.TB) *Server {
	t.Helper()
	Need(t)
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
	c := &Server{t: t, dir: dir, port: freePort(t)}
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
	c.Start()
	t.Cleanup(c.Stop)
	out, err := exec.Command(bin("lpadmin"), "-h", c.Host(), "-p", "amigo-pdf", "-E", "-v", "cups-pdf:/",
		"-P", "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd", "-o", "pdftops-renderer-default=pdftocairo").CombinedOutput()
	if err != nil {
		t.Fatalf("lpadmin: %v: %s", err, out)
	}
	return c
}

// Host is the server's address, host:port.
func (c *Server) Host() string { return fmt.Sprintf("127.0.0.1:%d", c.port) }

// URI is the amigo-pdf printer's IPP URI.
func (c *Server) URI() string { return fmt.Sprintf("ipp://127.0.0.1:%d/printers/amigo-pdf", c.port) }

// Start runs cupsd (again, after Stop) in the foreground and waits until it answers HTTP.
func (c *Server) Start() {
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
		resp, err := http.Get("http://" + c.Host() + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("cupsd exited: %s", c.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cupsd did not answer on %s in 20 s: %v\n%s", c.Host(), err, c.Log())
		}
	}
}

// Stop ends cupsd (and the filters it started) and waits for it.
func (c *Server) Stop() {
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

// Log is the end of cupsd's error log.
func (c *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "log", "error_log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Admin runs a CUPS command (cupsreject, cupsaccept, cupsdisable,
// cupsenable …) against this server.
func (c *Server) Admin(args ...string) {
	c.t.Helper()
	name := args[0]
	out, err := exec.Command(bin(name), append([]string{"-h", c.Host()}, args[1:]...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// AnonDir is where cups-pdf writes the jobs of a user the system does not
// know: AnonDirName in /etc/cups/cups-pdf.conf (its default otherwise).
func AnonDir() string {
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

// User is a requesting-user-name no system has, so that cups-pdf
// writes to its anonymous directory.
const User = "amigo-print-test"

// Output waits for the PDF cups-pdf wrote for the job named name (its file
// name starts with the job name) and returns it; the file is removed when
// the test ends.
func Output(t testing.TB, name string) []byte {
	t.Helper()
	dir := AnonDir()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, name+".pdf"))
		more, _ := filepath.Glob(filepath.Join(dir, name+"_*.pdf")) // cups-pdf may add a label after the title
		m = append(m, more...)
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

// Port is the server's TCP port.
func (c *Server) Port() int { return c.port }

// Text extracts a PDF's text with poppler's pdftotext (Debian
// poppler-utils, which .ci/run installs and checks for).
func Text(t testing.TB, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not found: install Debian poppler-utils (.ci/run installs it and fails without it)")
	}
	f := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(f, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	return string(out)
}
