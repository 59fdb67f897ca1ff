// Package headless starts a headless Chromium for the browser tests of
// the portal, the demo's console and the OpenFeature web provider.
package headless

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Unavailable skips the test for the reason given, or fails it when
// SAASKIT_REQUIRE_CHROMIUM is set, as CI sets it.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("SAASKIT_REQUIRE_CHROMIUM") != "" {
		t.Fatalf("SAASKIT_REQUIRE_CHROMIUM is set, but %s", msg)
	}
	t.Skip(msg)
}

// Chromium returns the path of a Chromium (or Chrome) binary, or skips
// the test (see Unavailable).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Unavailable(t, "no chromium binary on PATH (apt-get install chromium)")
	return ""
}

// Start starts Chromium (exe) headless with a fresh profile and returns
// the context that drives it; the browser stops, and its profile is
// removed, when the test ends.
func Start(t testing.TB, exe string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "saaskit-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Chromium's helpers may still write to the profile for a moment
		// after the browser exits, so try the removal a few times.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.UserDataDir(profile),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser; it lives as long as ctx.
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}
