// Package ofrepweb runs the OpenFeature web SDK with its OFREP provider
// (@openfeature/web-sdk, @openfeature/ofrep-web-provider, versions
// pinned in package-lock.json) in headless Chromium, so that tests check
// an OFREP server against the provider browsers use.
//
// The npm packages are installed with the machine's npm, by `npm ci`,
// into a cache directory keyed by the lock file, and served to the page
// as ES modules through an import map: nothing is bundled and nothing
// installed is committed. Without chromium or npm the tests skip,
// unless SAASKIT_REQUIRE_CHROMIUM is set (as CI sets it): then they
// fail.
package ofrepweb

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/saaskit/saaskit/internal/headless"
	"github.com/stretchr/testify/require"
)

var (
	//go:embed package.json
	packageJSON []byte
	//go:embed package-lock.json
	packageLock []byte
)

// Modules returns a node_modules directory holding the locked packages,
// running `npm ci` into the user's cache directory the first time.
func Modules(t testing.TB) string {
	t.Helper()
	sum := sha256.Sum256(packageLock)
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "saaskit", "ofrepweb-"+hex.EncodeToString(sum[:8]))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "installed")); err == nil {
		return modules
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		headless.Unavailable(t, "npm is not on PATH (apt-get install npm), so the OpenFeature web SDK cannot be installed")
	}
	// Install beside the cache entry and rename it into place, so that
	// test binaries installing at once (go test ./... runs packages in
	// parallel) never see half an installation.
	require.NoError(t, os.MkdirAll(filepath.Dir(dir), 0o755))
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".ofrepweb-install-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp) // left only when another installation won
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "package.json"), packageJSON, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "package-lock.json"), packageLock, 0o644))
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci:\n%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "installed"), nil, 0o644))
	if err := os.Rename(tmp, dir); err != nil {
		_, statErr := os.Stat(filepath.Join(dir, "installed"))
		require.NoError(t, statErr, "install into %s: %v", dir, err)
	}
	return modules
}

// PagePath is where Handler serves the test page. Its query may hold
// token (sent as a bearer token) and poll (the provider's poll
// interval in milliseconds, default 100); the page's evaluation
// context is {"targetingKey": "user-1", "lang": "fr"}.
const PagePath = "/ofrep-web/"

// page loads the SDK and the provider, and exposes the client as
// window.client once the provider is ready (window.ready), with the
// provider's configuration-changed events counted in window.changes.
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>OFREP web provider</title>
<script type="importmap">
{"imports": {
  "@openfeature/core": "/node_modules/@openfeature/core/dist/esm/index.js",
  "@openfeature/web-sdk": "/node_modules/@openfeature/web-sdk/dist/esm/index.js",
  "@openfeature/ofrep-core": "/node_modules/@openfeature/ofrep-core/index.esm.js",
  "@openfeature/ofrep-web-provider": "/node_modules/@openfeature/ofrep-web-provider/index.esm.js"
}}
</script>
<script type="module">
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
const q = new URLSearchParams(location.search);
const headers = q.get('token') ? [['Authorization', 'Bearer ' + q.get('token')]] : [];
window.changes = 0;
window.errors = [];
try {
  await OpenFeature.setContext({ targetingKey: 'user-1', lang: 'fr' });
  const provider = new OFREPWebProvider({ baseUrl: location.origin, headers, pollInterval: Number(q.get('poll') || 100) });
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, () => { window.changes++; });
  await OpenFeature.setProviderAndWait(provider);
  window.client = OpenFeature.getClient();
  window.ready = true;
} catch (e) {
  window.errors.push(String(e));
}
</script></head><body>OFREP</body></html>`

// Handler serves the page at PagePath and the packages under
// /node_modules/, and passes every other request to next (the OFREP
// server, or a proxy to it): the page and the server share an origin.
func Handler(modules string, next http.Handler) http.Handler {
	files := http.StripPrefix("/node_modules/", http.FileServer(http.Dir(modules)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == PagePath:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(page))
		case strings.HasPrefix(r.URL.Path, "/node_modules/"):
			files.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// Browser is a headless Chromium with a fresh profile.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// Open starts Chromium (exe) and opens url, stopping both when the
// test ends.
func Open(t testing.TB, exe, url string) *Browser {
	t.Helper()
	ctx := headless.Start(t, exe)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)), "open %s in chromium", url)
	return &Browser{t: t, ctx: ctx}
}

// Eval runs a script in the page and decodes its result.
func Eval[T any](b *Browser, script string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](script))
	require.NoError(b.t, err, "evaluate %s", script)
	return v
}

// Revalidations records the answers to requests that revalidated (sent
// If-None-Match), as the provider's polling does.
type Revalidations struct {
	mu       sync.Mutex
	statuses []int
}

// Wrap records the requests next answers.
func (v *Revalidations) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.Header.Get("If-None-Match") != "" {
			v.mu.Lock()
			v.statuses = append(v.statuses, rec.status)
			v.mu.Unlock()
		}
	})
}

// Saw reports whether a revalidation was answered with status.
func (v *Revalidations) Saw(status int) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Contains(v.statuses, status)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
