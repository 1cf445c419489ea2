//go:build unix

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Not committed: the README's screenshots with a few days of data.
func TestREADMEShots(t *testing.T) {
	if os.Getenv("AMIGO_SCREENSHOTS") == "" {
		t.Skip()
	}
	dir := t.TempDir()
	start := time.Now().Add(-6 * 24 * time.Hour).Truncate(24 * time.Hour).Add(-8*time.Hour + 23*time.Hour + 40*time.Minute)
	demo := start2(t, dir, start)
	base := strings.TrimSuffix(demo.expect(t, `API (http://\S+)/api/v1`, 60*time.Second), "/")
	demo.expect(t, `amigo demo: (clock|meters resumed)`, 60*time.Second)
	time.Sleep(150 * time.Second)
	ctx := browser(t, 4*time.Minute)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/lang/zh?next=/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse-1"),
		chromedp.Submit(chromedp.CSS(`#login`)), chromedp.WaitVisible(chromedp.ID("meters-online"))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, 1280, "operator-dashboard-zh-1280")
	for _, p := range []struct{ path, name string }{{"/meters", "operator-meters-zh-1280"}, {"/meters/000000000004", "operator-meter-charts-zh-1280"}, {"/areas", "operator-areas-zh-1280"}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		shot(t, ctx, 1280, p.name)
	}
	_ = filepath.Join
}

func start2(t *testing.T, dir string, from time.Time) *proc {
	return start(t, dir, "demo", "amigo", "demo", "--meters", "12", "--http", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--admin-password", "correct-horse-1",
		"--speed", "3600", "--start", from.Format(time.RFC3339))
}
