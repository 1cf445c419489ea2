// Package browsertest starts Debian's chromium for the browser tests and
// saves their screenshots: one launcher for every package that drives the
// pages (chromedp).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// RequireEnv, when set (.ci/run sets it), makes a missing chromium fail the
// test instead of skipping it.
const RequireEnv = "AMIGO_REQUIRE_CHROMIUM"

// Start runs chromium headless with a fresh profile and returns a tab's
// context, which ends after within or with the test, whichever is first.
// The flags keep chromium off the network this machine does not have.
func Start(t testing.TB, within time.Duration) context.Context {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(RequireEnv + " is set and no chromium is installed")
		}
		t.Skip("no chromium installed (apt-get install chromium fonts-lxgw-wenkai)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true))
	t.Cleanup(acancel)
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(tcancel)
	return tctx
}

// Screenshot reloads the page at width × height px, waits for its main
// element and saves a full-page screenshot as name.png in the test's
// artefact directory, and in $AMIGO_SCREENSHOTS when set (the README's
// docs/screenshots).
func Screenshot(t testing.TB, ctx context.Context, width, height int64, name string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
		t.Fatalf("viewport %d: %v", width, err)
	}
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("AMIGO_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
