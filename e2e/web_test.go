//go:build unix

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/amigo-metering/amigo/internal/browsertest"
)

// browser starts Debian's chromium headless (a fresh profile) and returns
// a tab's context; the browser ends with the test. The test is skipped
// when no chromium is installed (.ci/run installs it).
func browser(t *testing.T, within time.Duration) context.Context {
	t.Helper()
	return browsertest.Start(t, within)
}

// shot saves a full-page screenshot at width px as name.png in the test's
// artefact directory, and in $AMIGO_SCREENSHOTS when set (the README's
// docs/screenshots).
func shot(t *testing.T, ctx context.Context, width int64, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, width, 900, name)
}

// TestOperatorJourney: an operator opens the station's pages in chromium,
// logs in, finds a meter by its address, disconnects it (confirmed) and
// sees the relay open — read back from the virtual meter through the
// collector — then finds the command in the audit log, in both languages.
func TestOperatorJourney(t *testing.T) {
	if binDir == "" {
		t.Skip("-short")
	}
	dir := t.TempDir()
	demo := start(t, dir, "demo", "amigo", "demo", "--meters", "5", "--http", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--admin-password", "correct-horse-1")
	base := strings.TrimSuffix(demo.expect(t, `API (http://\S+)/api/v1`, 60*time.Second), "/")
	demo.expect(t, `amigo demo: (clock|meters resumed)`, 60*time.Second)
	ctx := browser(t, 4*time.Minute)
	const meter = "000000000003"

	// Log in (in the browser's language, English), then switch to Chinese.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`))); err != nil {
		t.Fatalf("login page: %v", err)
	}
	shot(t, ctx, 1280, "operator-login-1280")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse-1"),
		chromedp.Submit(chromedp.CSS(`#login`)), chromedp.WaitVisible(chromedp.ID("meters-online"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	if h, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("nav"))); !strings.Contains(h, "Meters") {
		t.Fatalf("the menu is not in the browser's English: %q", h)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.ID("meters-online"))); err != nil {
		t.Fatal(err)
	}
	if h, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("nav"))); !strings.Contains(h, "电表") {
		t.Fatalf("the menu is not in Chinese after the switch: %q", h)
	}
	shot(t, ctx, 1280, "operator-dashboard-zh-1280")

	// Find the meter by the first digits of its address.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/meters"), chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), meter),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	// htmx replaces the list with the one meter found.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#rows a.meter-link").length === 1 && document.querySelector("#rows a.meter-link").textContent === "`+meter+`"`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#rows a.meter-link").length`))
		t.Fatalf("search for %s: %v (%d meters listed)", meter, err, n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows a.meter-link`)), chromedp.WaitVisible(chromedp.ID("relay"))); err != nil {
		t.Fatalf("meter page: %v", err)
	}

	// Disconnect, confirmed; the page shows the relay the station read back.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cmd-disconnect")), chromedp.WaitVisible(chromedp.ID("confirm-yes"))); err != nil {
		t.Fatalf("confirm page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm-yes")), chromedp.WaitVisible(chromedp.ID("accepted"))); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#relay[data-relay="open"]`))); err != nil {
		txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("live")))
		t.Fatalf("the relay never showed open: %v\n%s", err, txt)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("commands"))); !strings.Contains(txt, "拉闸") || !strings.Contains(txt, "成功") {
		t.Fatalf("the commands table does not show the disconnect succeeded: %q", txt)
	}
	shot(t, ctx, 1280, "operator-meter-1280")
	shot(t, ctx, 360, "operator-meter-360")

	// The same action in the audit log, under the operator's name.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit"))); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("audit"))); !strings.Contains(txt, "command.disconnect") || !strings.Contains(txt, "admin") {
		t.Fatalf("the audit log lacks the disconnect: %q", txt)
	}

	// Back to English, remembered across pages.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.ID("audit")),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("meters-online"))); err != nil {
		t.Fatal(err)
	}
	if h, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("nav"))); !strings.Contains(h, "Meters") {
		t.Fatalf("the menu is not in English after the switch: %q", h)
	}
	shot(t, ctx, 1280, "operator-dashboard-1280")
	shot(t, ctx, 360, "operator-dashboard-360")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/meters/"+meter), chromedp.WaitVisible(chromedp.ID("relay"))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, 1280, "operator-meter-en-1280")
	demo.stop(t)
}
