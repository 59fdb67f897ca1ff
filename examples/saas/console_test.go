package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/headless"
)

// browser drives a headless Chromium with a fresh profile for the test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the demo's URL
}

func newBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	return &browser{t: t, ctx: headless.Start(t, exe), base: base}
}

// do runs steps, each batch within 30 seconds.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

// open loads a console page and waits for sel.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// click clicks sel, a button that submits a form, and waits for the page
// the server answers with.
func (b *browser) click(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
	require.NoError(b.t, err, "click %s", sel)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(b.t, err)
	u, err := url.Parse(loc)
	require.NoError(b.t, err)
	return u.Path
}

// evaluate runs a script in the page and decodes its result.
func evaluate[T any](b *browser, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	require.NoError(b.t, err, "evaluate %s", script)
	return v
}

// drawn is what Chromium drew of an inline SVG.
type drawn struct {
	Width, Height float64  // its size on the page
	Title         string   // its <title>
	Bars          []string // its bars' <title>s
	BarsDrawn     int      // bars with a size and a fill on the page
}

// drawnSVG reads what Chromium drew of the SVG sel selects.
func drawnSVG(b *browser, sel string) drawn {
	b.t.Helper()
	return evaluate[drawn](b, `(() => {
		const svg = document.querySelector(`+strconv.Quote(sel)+`);
		const box = svg.getBoundingClientRect();
		const bars = [...svg.querySelectorAll("rect.bar")];
		return {
			Width: box.width, Height: box.height,
			Title: svg.querySelector("title").textContent,
			Bars: bars.map(r => r.querySelector("title").textContent),
			BarsDrawn: bars.filter(r => r.getBoundingClientRect().height > 0 && getComputedStyle(r).fill.startsWith("rgb(")).length,
		};
	})()`)
}

// logoutContrast is the contrast ratio (WCAG 2) of the log-out button's
// text on its background, or on the header's where the button has none.
const logoutContrast = `(() => {
	const button = document.querySelector("#logout");
	const rgba = css => css.match(/[\d.]+/g).map(Number);
	let background = getComputedStyle(button).backgroundColor;
	if (rgba(background)[3] === 0) background = getComputedStyle(button.closest("header")).backgroundColor;
	const luminance = css => {
		const [r, g, b] = rgba(css).slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const [a, b] = [luminance(getComputedStyle(button).color), luminance(background)];
	return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})()`

// eventually reloads path until sel's text is want.
func (b *browser) eventually(path, sel, want string) {
	b.t.Helper()
	await.True(b.t, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			return false
		}
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		return err == nil && strings.TrimSpace(s) == want
	}, "%s on %s never read %q", sel, path, want)
}

// TestDemoConsole drives the operator console in headless Chromium: the
// operator logs in with the token, sees each tenant's API calls this
// month, adds a custom domain and sees it pending with the record to
// publish, repoints a webhook endpoint that went away and retries its dead letter, kills and revives a flag and sees
// the gated API follow, starts an erasure and sees it complete, and logs
// out. It skips when no Chromium is installed, unless
// SAASKIT_REQUIRE_CHROMIUM is set, as CI sets it.
func TestDemoConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	exe := headless.Chromium(t)
	data := t.TempDir()
	s := start(t, buildDemo(t), data)
	defer s.Stop(t)
	token := s.operatorToken(t)
	base := "http://127.0.0.1:" + s.port
	acme := s.as(t, "acme")
	b := newBrowser(t, exe, base)

	t.Run("pages need a login", func(t *testing.T) {
		b.open("/console/flags", "#token")
		assert.Equal(t, "/console/login", b.location())
		b.do(chromedp.SendKeys(chromedp.ID("token"), "op_wrong"))
		b.click("#login")
		assert.Contains(t, b.text("#flash"), "not the operator token")

		b.do(chromedp.SendKeys(chromedp.ID("token"), token))
		b.click("#login")
		assert.Equal(t, "/console/tenants", b.location())
		assert.Contains(t, b.text("#tenant-acme .audit"), "verified")
		assert.Contains(t, b.text("#tenant-globex"), "Globex")
		assert.Regexp(t, `^\d+ of 1000000$`, b.text("#tenant-acme .usage"), "acme's API calls this month, of pro's")
	})

	t.Run("custom domains", func(t *testing.T) {
		b.open("/console/tenants/acme/domains", "#domain-name")
		b.do(chromedp.SendKeys(chromedp.ID("domain-name"), "shop.acme.example"))
		b.click("#add-domain")
		assert.Contains(t, b.text("#flash"), "Domain shop.acme.example added")
		row := `[id="domain-shop.acme.example"]`
		assert.Equal(t, "pending", b.text(row+" .state"), "no proof checked yet")
		assert.Equal(t, "_saaskit-challenge.shop.acme.example", b.text(row+" .record"))
		assert.Len(t, b.text(row+" .token"), 32)
	})

	t.Run("forms need the session's CSRF token", func(t *testing.T) {
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.PostForm(base+"/console/login", url.Values{"token": {token}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		cookies := resp.Cookies()
		require.Len(t, cookies, 1)
		assert.True(t, cookies[0].HttpOnly)
		assert.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)

		req, err := http.NewRequest("POST", base+"/console/flags/usage-insights/state", strings.NewReader("state=DISABLED&csrf=forged"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookies[0])
		resp, err = noRedirect.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)

		resp, err = noRedirect.PostForm(base+"/console/flags/usage-insights/state", url.Values{"state": {"DISABLED"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "no session: to the login page")
		assert.Equal(t, "/console/login", resp.Header.Get("Location"))
	})

	t.Run("retry a dead letter", func(t *testing.T) {
		// The endpoint's receiver has gone away (410): the worker
		// dead-letters the delivery and disables the endpoint.
		endpointID, _, deliveryID := s.deadLetter(t, acme, "mae@example.com")

		row := "#delivery-" + deliveryID
		b.open("/console/tenants/acme/webhooks?state=dead", row)
		assert.Equal(t, "dead", b.text(row+" .state"))
		assert.Contains(t, b.text("#endpoint-"+endpointID+" .status"), "disabled: 410 Gone")

		// Repoint the endpoint at the demo's receiver, then retry.
		form := "#endpoint-" + endpointID
		b.do(chromedp.SetValue(chromedp.CSS(form+` input[name="url"]`), base+"/webhooks/inbound/acme"))
		b.click(form + " button")
		assert.Contains(t, b.text("#flash"), "saved and enabled")
		assert.Equal(t, "enabled", b.text(form+" .status"))
		b.click(row + " button.retry")
		assert.Contains(t, b.text("#flash"), "queued again")
		b.eventually("/console/tenants/acme/webhooks", row+" .state", "succeeded")
		_, received := s.call(t, "GET", "localhost", "/api/webhooks/inbound", nil, s.as(t, "acme")...)
		assert.Contains(t, received, "user.created", "the retried event arrived, signed")
	})

	t.Run("delivery charts", func(t *testing.T) {
		// So far acme's one delivery was attempted twice: the receiver
		// that had gone away answered 410, the retry succeeded.
		b.open("/console/tenants/acme/webhooks", "#chart-success svg")
		assert.Equal(t, "2 attempts, 50% succeeded.", b.text("#activity-summary"))
		success := drawnSVG(b, "#chart-success svg")
		assert.Positive(t, success.Width)
		assert.Positive(t, success.Height)
		assert.Contains(t, success.Title, "2 attempts, 50% succeeded")
		require.NotEmpty(t, success.Bars, "no bar for the hours with attempts")
		assert.Len(t, success.Bars, success.BarsDrawn, "bars Chromium did not draw")
		for _, bar := range success.Bars {
			assert.Regexp(t, `^\d\d:00 · succeeded: (0|50|100)%$`, bar)
		}
		latency := drawnSVG(b, "#chart-latency svg")
		assert.Positive(t, latency.Width)
		assert.Contains(t, latency.Title, "latency")
		assert.Len(t, latency.Bars, 2*len(success.Bars), "a p50 and a p95 bar for each hour with attempts")
		assert.Len(t, latency.Bars, latency.BarsDrawn, "bars Chromium did not draw")
		for _, bar := range latency.Bars {
			assert.Regexp(t, `^\d\d:00 · p(50|95): [0-9.]+(µs|ms|s)$`, bar)
		}

		// The numbers behind the charts, for those who do not see them.
		rows := evaluate[[][]string](b, `[...document.querySelectorAll("#activity-numbers tr")].slice(1).map(tr => [...tr.cells].map(td => td.textContent))`)
		require.Len(t, rows, len(success.Bars), "a row for each hour with attempts")
		attempts := 0
		for _, row := range rows {
			require.Len(t, row, 5)
			assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:00:00 UTC$`, row[0])
			n, err := strconv.Atoi(row[1])
			require.NoError(t, err)
			attempts += n
			assert.Regexp(t, `^(0|50|100)%$`, row[2])
			assert.Regexp(t, `^[0-9.]+(µs|ms|s)$`, row[3])
		}
		assert.Equal(t, 2, attempts)
		assert.Contains(t, b.text("#queue"), "0 due")
		assert.Contains(t, b.text("#queue"), "No delivery is waiting.")

		// globex has sent nothing.
		b.open("/console/tenants/globex/webhooks", "#activity-empty")
		assert.Equal(t, "No deliveries in the last 24 h.", b.text("#activity-empty"))
		assert.Zero(t, evaluate[int](b, `document.querySelectorAll("figure.chart").length`))
	})

	t.Run("kill switch", func(t *testing.T) {
		insights := func(tenant string) int {
			resp, _ := s.call(t, "GET", "localhost", "/api/insights", nil, s.as(t, tenant)...)
			return resp.StatusCode
		}
		require.Equal(t, 200, insights("acme"), "acme is in the internal ring")
		row := "#flag-usage-insights"
		b.open("/console/flags", row)
		assert.Equal(t, "ENABLED", b.text(row+" .state"))
		assert.Equal(t, "internal: acme", b.text(row+" .rings"))
		assert.Equal(t, "on 0% · off 100%", b.text(row+" .split-label"))
		assert.Equal(t, "guarded rollout: progressing", b.text(row+" .guard"), "the rollout's guard state is shown")
		b.click(row + " button.kill")
		assert.Equal(t, "DISABLED", b.text(row+" .state"))
		await.True(t, func() bool { return insights("acme") == 404 },
			"the kill switch never reached the API")

		b.click(row + " button.revive")
		assert.Equal(t, "ENABLED", b.text(row+" .state"))
		b.do(chromedp.SetValue(chromedp.CSS(row+` input[name="percent"]`), "100"))
		b.click(row + ` input[name="percent"] + button`)
		assert.Contains(t, b.text("#flash"), "100%")
		assert.Equal(t, "on 100% · off 0%", b.text(row+" .split-label"))
		bar := evaluate[[]float64](b, `[...document.querySelectorAll("#flag-usage-insights .split svg rect")].map(r => r.getBoundingClientRect().width)`)
		require.Len(t, bar, 3, "the track and a rect per variant")
		assert.Positive(t, bar[0])
		assert.InDelta(t, bar[0], bar[1], 0.5, "on's share of the bar is not all of it")
		assert.Zero(t, bar[2], "off has a share of the bar")
		await.True(t, func() bool { return insights("globex") == 200 },
			"the 100% rollout never reached globex")
		assert.Contains(t, b.text(row), "by console:operator", "the flag store audited the change")
	})

	t.Run("erasure", func(t *testing.T) {
		resp, body := s.call(t, "POST", "localhost", "/api/users",
			strings.NewReader(`{"email_address":"kat@example.com","first_name":"Katherine","last_name":"Johnson"}`), acme...)
		require.Equal(t, 201, resp.StatusCode, body)
		var u struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(body), &u))

		b.open("/console/tenants/acme/privacy", "#erase-user")
		b.do(chromedp.SendKeys(chromedp.ID("erase-user"), u.ID))
		b.click("#erase")
		row := `tr[data-user="` + u.ID + `"]`
		b.eventually("/console/tenants/acme/privacy", row+" .state", "completed")
		assert.Equal(t, "erasure", b.text(row+" .kind"))
		assert.Contains(t, b.text("#audit"), "Verified")
		_, users := s.call(t, "GET", "localhost", "/api/users?email=kat@example.com", nil, acme...)
		assert.JSONEq(t, `[{"id":"`+u.ID+`","erased":true}]`, users)

		// The trail holds the console's actions, under its actor.
		_, body = s.call(t, "GET", "localhost", "/api/privacy-audit", nil, acme...)
		var report struct{ OK bool }
		require.NoError(t, json.Unmarshal([]byte(body), &report))
		assert.True(t, report.OK, body)
		actions, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("td.action")].filter(td => td.previousElementSibling.textContent === "console:operator").map(td => td.textContent)`))
		require.NoError(t, err)
		assert.Contains(t, actions, "request completed")
		assert.Contains(t, actions, "webhook retry")
		assert.Contains(t, actions, "webhook endpoint repoint")
	})

	t.Run("a verify from the command line shows", func(t *testing.T) {
		var status struct{ Backups []struct{ ID string } }
		await.True(t, func() bool {
			_, body := s.call(t, "GET", "localhost", "/admin/backups", nil, "Authorization", "Bearer "+token)
			return json.Unmarshal([]byte(body), &status) == nil && len(status.Backups) > 0
		}, "the demo never made its first backup")
		cli := filepath.Join(t.TempDir(), "saaskit")
		out, err := exec.Command("go", "build", "-o", cli, "../../cmd/saaskit").CombinedOutput()
		require.NoError(t, err, "%s", out)
		cmd := exec.Command(cli, "backup", "verify", "--data", data)
		cmd.Env = append(os.Environ(), "SAASKIT_ROOT_PASSPHRASE=") // the demo's passphrase file
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "ok      "+status.Backups[0].ID)

		b.open("/console/backups", "#verify")
		assert.Contains(t, b.text("#verify"), "ok at level all")
		assert.Contains(t, b.text("#verify"), status.Backups[0].ID)
	})

	t.Run("log out", func(t *testing.T) {
		// Every page has the button, legible on the header.
		for _, path := range []string{"/console/tenants", "/console/tenants/acme/webhooks", "/console/tenants/acme/privacy", "/console/flags", "/console/backups"} {
			b.open(path, "#logout")
			assert.Equal(t, "Log out", b.text("#logout"), path)
			assert.GreaterOrEqual(t, evaluate[float64](b, logoutContrast), 4.5, "the log-out button's contrast on %s", path)
		}
		b.click("#logout")
		assert.Equal(t, "/console/login", b.location())
		b.open("/console/tenants", "#token")
		assert.Equal(t, "/console/login", b.location())
	})
}

// deadLetter makes a dead letter for the tenant whose API key header is
// key: a new endpoint pointed at the demo's receiver that has gone away
// (410), then a user with email, whose user.created delivery dies and
// disables the endpoint. It returns the endpoint's, the user's and the
// dead delivery's IDs.
func (s *server) deadLetter(t *testing.T, key []string, email string) (endpointID, userID, deliveryID string) {
	t.Helper()
	resp, body := s.call(t, "POST", "localhost", "/api/webhooks/endpoints",
		strings.NewReader(`{"url":"http://127.0.0.1:`+s.port+`/webhooks/gone"}`), key...)
	require.Equal(t, 201, resp.StatusCode, body)
	var endpoint struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &endpoint))
	resp, body = s.call(t, "POST", "localhost", "/api/users",
		strings.NewReader(`{"email_address":"`+email+`","first_name":"Mae","last_name":"Jemison"}`), key...)
	require.Equal(t, 201, resp.StatusCode, body)
	var user struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &user))
	var dead []struct{ ID string }
	await.True(t, func() bool {
		_, body := s.call(t, "GET", "localhost", "/api/webhooks/deliveries?state=dead", nil, key...)
		return json.Unmarshal([]byte(body), &dead) == nil && len(dead) == 1
	}, "the delivery to the gone receiver never died")
	return endpoint.ID, user.ID, dead[0].ID
}

// TestConsoleSessionOutlivesRestart logs in over plain HTTP, restarts
// the demo on the same data, and is still logged in: sessions live in
// the database, not the process. Logging out ends the session.
func TestConsoleSessionOutlivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	bin, data := buildDemo(t), t.TempDir()
	t.Setenv("SAASKIT_OPERATOR_TOKEN", "op-kept") // the same token across the restart: see TestConsoleLoginDefenses
	send := func(s *server, method, path string, form url.Values, cookie *http.Cookie) *http.Response {
		return consoleSend(t, s, method, path, form, cookie)
	}

	s := start(t, bin, data)
	resp := send(s, "POST", "/console/login", url.Values{"token": {"wrong"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	cookie := consoleLogin(t, s, "op-kept")
	assert.Equal(t, http.StatusOK, send(s, "GET", "/console/tenants", nil, cookie).StatusCode)
	s.Stop(t)

	s = start(t, bin, data)
	defer s.Stop(t)
	assert.Equal(t, http.StatusOK, send(s, "GET", "/console/tenants", nil, cookie).StatusCode, "the restart logged the operator out")
	// Logging out needs the session's CSRF token, which the pages carry.
	resp = send(s, "POST", "/console/logout", url.Values{"csrf": {consoleCSRF(t, s, cookie)}}, cookie)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp = send(s, "GET", "/console/tenants", nil, cookie)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/console/login", resp.Header.Get("Location"), "the session outlived its logout")
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consoleSend sends a console request to s, with form as its body and
// header as name, value pairs, without following redirects.
func consoleSend(t *testing.T, s *server, method, path string, form url.Values, cookie *http.Cookie, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:"+s.port+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Host = "localhost:" + s.port
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// consolePage returns the console page at path, as cookie's session
// sees it.
func consolePage(t *testing.T, s *server, path string, cookie *http.Cookie) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+s.port+path, nil)
	require.NoError(t, err)
	req.Host = "localhost:" + s.port
	req.AddCookie(cookie)
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
	return string(body)
}

// consoleCSRF reads the CSRF token of cookie's session from a page.
func consoleCSRF(t *testing.T, s *server, cookie *http.Cookie) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(consolePage(t, s, "/console/tenants", cookie))
	require.NotNil(t, m, "no CSRF token on the page")
	return m[1]
}

// consoleLogin logs in with token and returns the session cookie.
func consoleLogin(t *testing.T, s *server, token string, header ...string) *http.Cookie {
	t.Helper()
	resp := consoleSend(t, s, "POST", "/console/login", url.Values{"token": {token}}, nil, header...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// TestConsoleLoginDefenses: a new operator token ends the sessions of
// the old one; failed log-ins are limited per client and logged without
// the token; a cross-site login post is refused; the cookie is Secure
// when a trusted proxy says the client came over TLS, and only then.
func TestConsoleLoginDefenses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	bin, data := buildDemo(t), t.TempDir()
	t.Setenv("SAASKIT_OPERATOR_TOKEN", "op-first")
	s := start(t, bin, data, "-trusted-proxies", "127.0.0.1/32")
	cookie := consoleLogin(t, s, "op-first")
	assert.False(t, cookie.Secure, "Secure over plain http")
	secure := consoleLogin(t, s, "op-first", "X-Forwarded-Proto", "https")
	assert.True(t, secure.Secure, "not Secure behind a trusted proxy that says https")

	resp := consoleSend(t, s, "POST", "/console/login", url.Values{"token": {"op-first"}}, nil, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a cross-site login post")
	resp = consoleSend(t, s, "POST", "/console/login", url.Values{"token": {"op-first"}}, nil, "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a login post from another origin")

	for i := range 5 {
		resp := consoleSend(t, s, "POST", "/console/login", url.Values{"token": {"guess-" + strconv.Itoa(i)}}, nil, "X-Forwarded-For", "203.0.113.7")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "guess %d", i)
	}
	resp = consoleSend(t, s, "POST", "/console/login", url.Values{"token": {"op-first"}}, nil, "X-Forwarded-For", "203.0.113.7")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a sixth try from the guessing client, right token or not")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	consoleLogin(t, s, "op-first", "X-Forwarded-For", "198.51.100.2") // another client is not held back
	logged := 0
	for _, l := range s.Lines() {
		if strings.Contains(l, "console login failed") {
			logged++
			assert.Contains(t, l, "203.0.113.7", "the log says from where")
			assert.NotContains(t, l, "guess-", "the log holds the token tried")
		}
	}
	assert.Equal(t, 5, logged, "every failed log-in is logged")
	s.Stop(t)

	t.Setenv("SAASKIT_OPERATOR_TOKEN", "op-second")
	s = start(t, bin, data)
	defer s.Stop(t)
	resp = consoleSend(t, s, "GET", "/console/tenants", nil, cookie)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a session of the old token lives on")
	assert.Equal(t, "/console/login", resp.Header.Get("Location"))
	resp = consoleSend(t, s, "POST", "/console/login", url.Values{"token": {"op-first"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, http.StatusOK, consoleSend(t, s, "GET", "/console/tenants", nil, consoleLogin(t, s, "op-second")).StatusCode)
}
