package webhookportal_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// routes are every route of the portal that acts on a tenant's data,
// with {id} an endpoint's or message's and {delivery} a delivery's.
var routes = []string{
	"GET /", "GET /endpoints/new", "POST /endpoints", "GET /endpoints/{endpoint}", "GET /endpoints/{endpoint}/edit",
	"POST /endpoints/{endpoint}", "POST /endpoints/{endpoint}/delete", "POST /endpoints/{endpoint}/disable",
	"POST /endpoints/{endpoint}/enable", "POST /endpoints/{endpoint}/rotate", "POST /endpoints/{endpoint}/replay",
	"POST /endpoints/{endpoint}/recover", "GET /event-types", "GET /messages", "GET /messages/{message}",
	"POST /messages/{message}/resend", "GET /messages/{message}/deliveries/{delivery}",
	"POST /messages/{message}/deliveries/{delivery}/retry", "GET /theme.css", "POST /logout",
}

// victim gives acme an endpoint, a message and a dead delivery to aim
// at, and returns their IDs and a snapshot of acme's state.
func victim(t *testing.T, f *fixture) (ids *strings.Replacer, snapshot func() string) {
	acme := f.as("acme")
	rc := newReceiver(t)
	rc.answer(http.StatusGone, "gone")
	e, _ := acme.createEndpoint(url.Values{"url": {rc.srv.URL + "/acme-secret-path"}})
	msg := f.send("acme", "invoice.paid", `{"acme":"private payload"}`, 1)
	ds, err := f.d.Deliveries(context.Background(), "acme", webhook.DeliveryFilter{MessageID: msg.ID})
	require.NoError(t, err)
	snapshot = func() string {
		eps, err := f.d.ListEndpoints(context.Background(), "acme")
		require.NoError(t, err)
		ds, err := f.d.Deliveries(context.Background(), "acme", webhook.DeliveryFilter{})
		require.NoError(t, err)
		var b strings.Builder
		for _, e := range eps {
			b.WriteString(e.ID + e.URL + e.DisabledReason + string(rune(len(e.Secrets))) + e.UpdatedAt.String())
		}
		for _, d := range ds {
			b.WriteString(d.ID + string(d.State))
		}
		return b.String()
	}
	return strings.NewReplacer("{endpoint}", e.ID, "{message}", msg.ID, "{delivery}", ds[0].ID), snapshot
}

// TestOtherTenantsIDs walks every route as globex with acme's IDs: each
// is not found, no page shows anything of acme's, and acme's data does
// not change. Then the same through a host that names acme while the
// principal is globex's: refused.
func TestOtherTenantsIDs(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	ids, snapshot := victim(t, f)
	before := snapshot()
	globex := f.as("globex")
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		if !strings.Contains(path, "{") {
			continue
		}
		path = ids.Replace(path)
		var a answer
		if method == "GET" {
			a = globex.get(path)
		} else {
			a = globex.post(path, url.Values{"url": {"https://attacker.example/x"}, "endpoint_id": {ids.Replace("{endpoint}")},
				"confirm": {"yes"}, "reason": {"x"}})
		}
		assert.Equal(t, http.StatusNotFound, a.status, "%s %s as globex: %.200s", method, path, a.body)
		assert.NotContains(t, a.body, "private payload", route)
		assert.NotContains(t, a.body, "acme-secret-path", route)
	}
	assert.Equal(t, before, snapshot(), "acme's data changed")

	// globex's principal at a host that names acme: refused, whatever
	// the route.
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		path = ids.Replace(path)
		a := globex.do(method, path, nil, "X-Named", "acme")
		assert.Equal(t, http.StatusForbidden, a.status, "%s %s", method, path)
		assert.NotContains(t, a.body, "private payload", route)
	}
	assert.Equal(t, before, snapshot(), "acme's data changed")
}

// TestCSRF refuses every change without the session's token, with
// another session's or tenant's token, and from another origin.
func TestCSRF(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	ids, snapshot := victim(t, f)
	before := snapshot()
	acme := f.as("acme")
	acme.get("/endpoints/new")
	require.NotEmpty(t, acme.csrf)
	other := f.as("acme")
	other.get("/endpoints/new")
	require.NotEqual(t, acme.csrf, other.csrf, "each browser session has its own token")
	globex := f.as("globex")
	globex.get("/endpoints/new")

	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		if method != "POST" {
			continue
		}
		path = ids.Replace(path)
		form := url.Values{"url": {"https://hooks.example.com/x"}, "confirm": {"yes"}, "endpoint_id": {ids.Replace("{endpoint}")}}
		for name, csrf := range map[string][]string{"no": nil, "a forged": {"forged"}, "another session's": {other.csrf},
			"another tenant's": {globex.csrf}, "an empty": {""}, "two": {acme.csrf, "forged"}} {
			f := url.Values{"csrf": csrf}
			for k, v := range form {
				f[k] = v
			}
			if csrf == nil {
				delete(f, "csrf")
			}
			a := acme.do("POST", path, strings.NewReader(f.Encode()))
			assert.Equal(t, http.StatusForbidden, a.status, "%s with %s token", path, name)
			assert.Contains(t, a.flash(), "CSRF", path)
		}
		for _, header := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
			a := acme.post(path, form, header...)
			assert.Equal(t, http.StatusForbidden, a.status, "%s with %s", path, header)
			assert.Contains(t, a.flash(), "cross-origin", path)
		}
	}
	assert.Equal(t, before, snapshot(), "a refused form changed acme's data")

	// A principal without the CSRF cookie cannot post at all.
	fresh := f.as("acme")
	a := fresh.post("/endpoints", url.Values{"csrf": {acme.csrf}, "url": {"https://hooks.example.com/x"}})
	assert.Equal(t, http.StatusForbidden, a.status)
}

// TestSecurityHeaders checks the headers of every answer: pages,
// errors, assets and the link page.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	ids, _ := victim(t, f)
	acme := f.as("acme")
	check := func(path string, a answer, logo bool) {
		t.Helper()
		csp := a.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "form-action 'self'",
			"base-uri 'none'", "frame-ancestors 'none'"} {
			assert.Contains(t, csp, want, path)
		}
		assert.NotContains(t, csp, "unsafe-inline", path)
		if logo {
			assert.Contains(t, csp, "img-src 'self' https://cdn.acme.example/logo.svg", path)
		} else {
			assert.Contains(t, csp, "img-src 'self'", path)
		}
		assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "no-referrer", a.header.Get("Referrer-Policy"), path)
		assert.Equal(t, "DENY", a.header.Get("X-Frame-Options"), path)
		assert.NotContains(t, a.body, "<style", path)
		assert.NotContains(t, a.body, " style=", path)
		assert.NotRegexp(t, `<script>|<script [^>]*>[^<]`, a.body, path, "no inline script")
		assert.NotRegexp(t, `\son[a-z]+=`, a.body, path, "no event handler attributes")
	}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		if method == "GET" {
			path = ids.Replace(path)
			check(path, acme.get(path), true)
		}
	}
	check("unknown", acme.get("/nope"), false)
	check("assets", acme.get("/assets/portal.css"), false)
	check("link", f.as("").get("/link"), false)
	check("unauthenticated", f.as("").get("/"), false)
	theme := acme.get("/theme.css")
	assert.Equal(t, "text/css; charset=utf-8", theme.header.Get("Content-Type"))
	assert.Contains(t, theme.body, "--primary: #d9480f;")
	assert.Contains(t, theme.body, "--font: Georgia, serif;")
	assert.Contains(t, theme.body, "--radius: 0;")

	framed := newFixture(t, newDispatcher(t), webhookportal.Options{FrameAncestors: []string{"https://app.example", "'self'"}})
	a := framed.as("acme").get("/")
	assert.Contains(t, a.header.Get("Content-Security-Policy"), "frame-ancestors https://app.example 'self'")
	assert.Empty(t, a.header.Get("X-Frame-Options"))
	cookie := a.header.Get("Set-Cookie")
	for _, want := range []string{"Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/portal/webhooks/"} {
		assert.Contains(t, cookie, want, "a cookie that works in another site's frame")
	}
}

func TestOptions(t *testing.T) {
	d := newDispatcher(t)
	for name, opts := range map[string]webhookportal.Options{
		"short key":        {Key: []byte("short")},
		"ancestor":         {FrameAncestors: []string{"https://a.example; script-src *"}},
		"ancestor path":    {FrameAncestors: []string{"https://a.example/x"}},
		"insecure framing": {FrameAncestors: []string{"https://a.example"}, InsecureCookies: true},
		"base query":       {BaseURL: "/portal?x=1"},
		"base scheme":      {BaseURL: "javascript:alert(1)"},
		"session":          {SessionTTL: time.Second},
		"page size":        {PageSize: 1000},
	} {
		_, err := webhookportal.New(d, opts)
		assert.ErrorIs(t, err, webhookportal.ErrInvalid, name)
	}
	h, err := webhookportal.New(d, webhookportal.Options{BaseURL: "https://app.example/hooks"})
	require.NoError(t, err)
	assert.Equal(t, "/hooks/", h.Path())
	link, err := h.Link("acme", 0)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(link, "https://app.example/hooks/link#token="), link)
	for _, ttl := range []time.Duration{-time.Second, time.Millisecond, 25 * time.Hour} {
		_, err := h.Link("acme", ttl)
		assert.ErrorIs(t, err, webhookportal.ErrInvalid, ttl)
	}
	for _, tenant := range []string{"", "a\x00b", "\xff", strings.Repeat("x", 300)} {
		_, err := h.Link(tenant, time.Minute)
		assert.ErrorIs(t, err, webhookportal.ErrInvalid, tenant)
	}
}

// TestLinks opens the portal from a link and refuses every link and
// session that is tampered with, expired, of another purpose or of
// another tenant than the request names.
func TestLinks(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFixture(t, newDispatcher(t), webhookportal.Options{Now: clock.Now, SessionTTL: time.Hour})
	ids, _ := victim(t, f)
	link, err := f.portal.Link("acme", 5*time.Minute)
	require.NoError(t, err)
	path, fragment, ok := strings.Cut(link, "#token=")
	require.True(t, ok)
	assert.Equal(t, base+"link", path)
	token, err := url.QueryUnescape(fragment)
	require.NoError(t, err)

	browser := f.as("")
	assert.Equal(t, http.StatusUnauthorized, browser.get("/").status, "no session yet")
	page := browser.get("/link")
	assert.Contains(t, page.body, `<script src="/portal/webhooks/assets/link.js"></script>`)
	opened := browser.do("POST", "/link", strings.NewReader(url.Values{"token": {token}}.Encode()))
	require.Equal(t, http.StatusSeeOther, opened.status, opened.body)
	assert.Equal(t, base, opened.header.Get("Location"))
	cookie := opened.header.Get("Set-Cookie")
	for _, want := range []string{"webhookportal_session=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/portal/webhooks/", "Max-Age=3600"} {
		assert.Contains(t, cookie, want)
	}
	home := browser.get("/")
	require.Equal(t, http.StatusOK, home.status, home.body)
	assert.Contains(t, home.body, "Acme Cloud", "the tenant's branding, from Options.Tenants")
	assert.Contains(t, home.body, `id="logout"`)
	assert.Contains(t, browser.get(ids.Replace("/endpoints/{endpoint}")).body, "acme-secret-path")
	created := browser.post("/endpoints", url.Values{"url": {"https://hooks.example.com/by-link"}})
	require.Equal(t, http.StatusCreated, created.status, created.flash())
	assert.Len(t, endpointIDs(t, f.d, "acme"), 2, "the link's tenant's")

	// A session is the tenant's only: a host naming another tenant is
	// refused, and another tenant's IDs are not found.
	assert.Equal(t, http.StatusForbidden, browser.get("/", "X-Named", "globex").status)
	globexEndpoint, _ := f.as("globex").createEndpoint(url.Values{"url": {"https://hooks.example.com/globex"}})
	nf := browser.get("/endpoints/" + globexEndpoint.ID)
	assert.Equal(t, http.StatusNotFound, nf.status, nf.flash())

	refused := func(name, tok string) {
		t.Helper()
		a := f.as("").do("POST", "/link", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		assert.Equal(t, http.StatusUnauthorized, a.status, name)
		assert.Empty(t, a.header.Get("Set-Cookie"), name)
	}
	payload, sig, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"t":"acme"`, `"t":"globex"`, 1)))
	refused("another tenant's payload", forged+"."+sig)
	refused("a flipped signature", payload+"."+flip(sig))
	refused("a flipped payload", flip(payload)+"."+sig)
	refused("no signature", payload)
	refused("empty", "")
	refused("garbage", "a.b.c")
	sessionValue := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "webhookportal_session=")
	refused("a session token used as a link", sessionValue)
	other, err := webhookportal.New(f.d, webhookportal.Options{BaseURL: base, Key: []byte("another key of at least 32 bytes!")})
	require.NoError(t, err)
	otherLink, err := other.Link("acme", time.Minute)
	require.NoError(t, err)
	otherToken, _ := url.QueryUnescape(strings.SplitN(otherLink, "#token=", 2)[1])
	refused("another key's link", otherToken)

	// A link token is no session cookie.
	asCookie := f.as("")
	asCookie.header.Set("Cookie", "webhookportal_session="+token)
	assert.Equal(t, http.StatusUnauthorized, asCookie.get("/").status)

	// A link opened on a host naming another tenant is refused.
	named := f.as("").do("POST", "/link", strings.NewReader(url.Values{"token": {token}}.Encode()), "X-Named", "globex")
	assert.Equal(t, http.StatusForbidden, named.status)

	// Links expire; sessions do too.
	clock.Advance(5 * time.Minute)
	refused("an expired link", token)
	assert.Equal(t, http.StatusOK, browser.get("/").status, "the session outlives its link")
	clock.Advance(time.Hour)
	assert.Equal(t, http.StatusUnauthorized, browser.get("/").status, "the session expired")

	// A session of a suspended tenant is refused; one of a deleted
	// tenant ends.
	link, err = f.portal.Link("acme", time.Minute)
	require.NoError(t, err)
	token, _ = url.QueryUnescape(strings.SplitN(link, "#token=", 2)[1])
	browser = f.as("")
	require.Equal(t, http.StatusSeeOther, browser.do("POST", "/link", strings.NewReader(url.Values{"token": {token}}.Encode())).status)
	acme, _ := f.tenants.Get(context.Background(), "acme")
	suspended := *acme
	suspended.Status = tenancy.StatusSuspended
	f.tenants.set("acme", &suspended)
	assert.Equal(t, http.StatusForbidden, browser.get("/").status)
	f.tenants.set("acme", nil)
	assert.Equal(t, http.StatusUnauthorized, browser.get("/").status)
	f.tenants.set("acme", acme)

	// Signing out drops the cookie.
	browser = f.as("")
	require.Equal(t, http.StatusSeeOther, browser.do("POST", "/link", strings.NewReader(url.Values{"token": {token}}.Encode())).status)
	require.Equal(t, http.StatusOK, browser.get("/").status)
	out := browser.post("/logout", nil)
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Contains(t, out.flash(), "signed out")
	assert.Equal(t, http.StatusUnauthorized, browser.get("/").status)
}

// flip changes a token's first character to another of base64url's.
func flip(s string) string {
	if s == "" {
		return "A"
	}
	c := "A"
	if s[0] == 'A' {
		c = "B"
	}
	return c + s[1:]
}

// TestPrincipals refuses a request without one, and one whose
// principal lacks the scopes.
func TestPrincipals(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{ReadScope: "webhooks:read", WriteScope: "webhooks:write"})
	a := f.as("").get("/")
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Contains(t, a.flash(), "sign in")

	reader := f.as("acme")
	reader.header.Set("X-Scopes", "webhooks:read")
	assert.Equal(t, http.StatusOK, reader.get("/endpoints/new").status)
	a = reader.post("/endpoints", url.Values{"url": {"https://hooks.example.com/x"}})
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Contains(t, a.flash(), "webhooks:write")
	none := f.as("acme")
	assert.Equal(t, http.StatusForbidden, none.get("/").status)
	writer := f.as("acme")
	writer.header.Set("X-Scopes", "webhooks:read webhooks:write")
	writer.createEndpoint(url.Values{"url": {"https://hooks.example.com/x"}})
}

// TestBadInput answers what it cannot use with a 4xx and a message that
// says why, never a 500.
func TestBadInput(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	ids, _ := victim(t, f)
	acme := f.as("acme")
	rc := newReceiver(t)
	disabled, _ := acme.createEndpoint(url.Values{"url": {rc.srv.URL}})
	require.Equal(t, http.StatusSeeOther, acme.post("/endpoints/"+disabled.ID+"/disable", nil).status)
	for _, c := range []struct {
		method, path string
		form         url.Values
		status       int
		says         string
	}{
		{"GET", "/?cursor=nope", nil, 400, "cursor"},
		{"GET", "/?limit=0", nil, 400, "limit"},
		{"GET", "/?limit=x", nil, 400, "limit"},
		{"GET", "/?period=1y", nil, 400, "period"},
		{"GET", "/?x=%zz", nil, 400, "query"},
		{"GET", "/messages?since=yesterday", nil, 400, "since"},
		{"GET", "/messages?until=2026-13-01T00:00", nil, 400, "until"},
		{"GET", "/messages?event_type=%ff", nil, 400, "event type"},
		{"GET", "{endpoint}?state=lost", nil, 400, "state"},
		{"GET", "/endpoints/%00", nil, 404, "not found"},
		{"GET", "/endpoints/%ff", nil, 404, "not found"},
		{"GET", "/endpoints/" + strings.Repeat("x", 300), nil, 404, "not found"},
		{"GET", "/messages/nope", nil, 404, "not found"},
		{"GET", "/messages/{message}/deliveries/nope", nil, 404, "not found"},
		{"GET", "/nope", nil, 404, "no such page"},
		{"GET", "/assets/nope.js", nil, 404, "no such file"},
		{"POST", "/endpoints", url.Values{"url": {"javascript:alert(1)"}}, 422, "url"},
		{"POST", "/endpoints", url.Values{"url": {"http://169.254.169.254/"}}, 422, ""},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "event_types": {"nope.never"}}, 422, "nope.never"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "rate_limit": {"fast"}}, 400, "rate limit"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "rate_limit": {"-1"}}, 400, "rate limit"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "headers": {"no colon"}}, 400, "Name: value"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "headers": {"Authorization: x"}}, 422, "header"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "signature": {"v9"}}, 400, "signature"},
		{"POST", "/endpoints", url.Values{"url": {rc.srv.URL}, "channels": {"a b c d e f g h i j k l m n o p q r s t u v w x y z " + strings.Repeat("c ", 100)}}, 422, "channels"},
		{"POST", "{endpoint}", url.Values{"url": {""}}, 422, "url"},
		{"POST", "{endpoint}/rotate", url.Values{"overlap_hours": {"-1"}}, 400, "overlap"},
		{"POST", "{endpoint}/rotate", url.Values{"overlap_hours": {"1e9"}}, 400, "overlap"},
		{"POST", "{endpoint}/replay", url.Values{"since": {"then"}}, 400, "since"},
		{"POST", "{endpoint}/replay", url.Values{"since": {"2026-01-02T00:00"}, "until": {"2026-01-01T00:00"}}, 400, "before"},
		{"POST", "{endpoint}/recover", url.Values{"until": {"x"}}, 400, "until"},
		{"POST", "{endpoint}/disable", url.Values{"reason": {strings.Repeat("r", 300)}}, 400, "reason"},
		{"POST", "/endpoints/" + disabled.ID + "/replay", nil, 409, "disabled"},
		{"POST", "/messages/{message}/resend", nil, 400, "choose an endpoint"},
		{"POST", "/messages/{message}/resend", url.Values{"endpoint_id": {"nope"}}, 404, "not found"},
		{"POST", "/messages/{message}/resend", url.Values{"endpoint_id": {disabled.ID}}, 409, "disabled"},
		{"POST", "/endpoints", url.Values{"url": {strings.Repeat("x", 70<<10)}}, 413, "larger"},
		{"POST", "/endpoints", url.Values{"url": {"https://hooks.example.com/\x00"}}, 422, ""},
	} {
		path := ids.Replace(c.path)
		if strings.HasPrefix(path, "ep_") {
			path = "/endpoints/" + path
		}
		var a answer
		if c.method == "GET" {
			a = acme.get(path)
		} else {
			a = acme.post(path, c.form)
		}
		assert.Equal(t, c.status, a.status, "%s %s %v: %s", c.method, c.path, c.form, a.flash())
		assert.Contains(t, strings.ToLower(a.flash()), strings.ToLower(c.says), "%s %s %v", c.method, c.path, c.form)
		assert.NotEmpty(t, a.flash(), "%s %s: an error says why", c.method, c.path)
	}
}

// TestThemeOverrides renders an operator's theme for one tenant, and
// the built-in one for the others.
func TestThemeOverrides(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{ThemeOverrides: fstest.MapFS{
		"acme/theme.css": {Data: []byte(`:root { --primary: {{.Branding.PrimaryColor}}; --brand: "{{.Branding.Name}}"; }`)},
	}})
	assert.Equal(t, `:root { --primary: #d9480f; --brand: "Acme Cloud"; }`, f.as("acme").get("/theme.css").body)
	assert.Contains(t, f.as("globex").get("/theme.css").body, ":root {")
}
