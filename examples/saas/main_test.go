package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection of TestDemoOnPostgres

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/proctest"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

// server is the demo binary running on a random port.
type server struct {
	*proctest.Proc
	port string
}

var (
	listenLine = regexp.MustCompile(`listening on http://localhost:(\d+)`)
	seededLine = regexp.MustCompile(`seeded tenant (\w+); its demo API key \(shown once\): (\S+)`)
)

func buildDemo(t testing.TB) string {
	t.Helper()
	return proctest.Build(t, ".")
}

func start(t testing.TB, bin, dataDir string, extra ...string) *server {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-data", dataDir, "-domain", "localhost"}, extra...)
	p, port := proctest.Start(t, bin, listenLine, args...)
	return &server{Proc: p, port: port}
}

// as returns the header that authenticates as tenant: the API key the
// demo printed when it seeded the tenant.
func (s *server) as(t *testing.T, tenant string) []string {
	t.Helper()
	for _, l := range s.Lines() {
		if m := seededLine.FindStringSubmatch(l); m != nil && m[1] == tenant {
			return []string{"Authorization", "Bearer " + m[2]}
		}
	}
	t.Fatalf("the demo printed no key for %s (it prints them on its first start only)", tenant)
	return nil
}

// get calls the demo as host (the Host header) with extra headers.
func (s *server) call(t *testing.T, method, host, path string, body io.Reader, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:"+s.port+path, body)
	require.NoError(t, err)
	req.Host = host + ":" + s.port
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestDemoService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	bin := buildDemo(t)
	data := t.TempDir()
	s := start(t, bin, data)

	keys := map[string]string{}
	for _, l := range s.Lines() {
		if m := seededLine.FindStringSubmatch(l); m != nil {
			keys[m[1]] = m[2]
		}
	}
	require.Len(t, keys, 2, "both demo tenants seeded with a key")

	resp, body := s.call(t, "GET", "localhost", "/livez", nil)
	assert.Equal(t, 200, resp.StatusCode, body)
	resp, body = s.call(t, "GET", "localhost", "/readyz", nil)
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "application/health+json", resp.Header.Get("Content-Type"))
	var ready struct {
		Status string
		Checks map[string][]struct{ Status string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	assert.Equal(t, "pass", ready.Status)
	for _, check := range []string{"sqlite", "keyring", "webhooks:backlog"} {
		require.Len(t, ready.Checks[check], 1, check)
		assert.Equal(t, "pass", ready.Checks[check][0].Status, check)
	}

	t.Run("subdomain", func(t *testing.T) {
		resp, body := s.call(t, "GET", "acme.localhost", "/api/branding", nil)
		require.Equal(t, 200, resp.StatusCode, body)
		var b map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &b))
		assert.Equal(t, "Acme Cloud", b["name"])
		assert.Equal(t, "#d9480f", b["primary_color"])
	})
	t.Run("a name is not a credential", func(t *testing.T) {
		resp, body := s.call(t, "GET", "localhost", "/api/branding", nil, "X-Tenant-ID", "globex")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Contains(t, body, "Globex Portal")
		resp, body = s.call(t, "GET", "localhost", "/api/tenant", nil, "X-Tenant-ID", "globex")
		require.Equal(t, 401, resp.StatusCode, body)
		resp, body = s.call(t, "GET", "globex.localhost", "/api/tenant", nil)
		require.Equal(t, 401, resp.StatusCode, body)
		resp, body = s.call(t, "GET", "localhost", "/api/tenant", nil, s.as(t, "globex")...)
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Contains(t, body, `"slug":"globex"`)
	})
	t.Run("api key", func(t *testing.T) {
		resp, body := s.call(t, "GET", "localhost", "/api/tenant", nil, "Authorization", "Bearer "+keys["acme"])
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Contains(t, body, `"slug":"acme"`)

		resp, body = s.call(t, "POST", "localhost", "/api/keys", strings.NewReader(`{"name":"ci","scopes":["tenant:read"]}`),
			"Authorization", "Bearer "+keys["acme"])
		require.Equal(t, 201, resp.StatusCode, body)
		var created struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(body), &created))
		resp, body = s.call(t, "GET", "localhost", "/api/tenant", nil, "X-API-Key", created.Token)
		require.Equal(t, 200, resp.StatusCode, body)

		// The new key lacks keys:write.
		resp, _ = s.call(t, "POST", "localhost", "/api/keys", strings.NewReader(`{}`), "X-API-Key", created.Token)
		assert.Equal(t, 403, resp.StatusCode)
	})
	t.Run("input is checked", func(t *testing.T) {
		acme := []string{"Authorization", "Bearer " + keys["acme"]}
		for _, tc := range []struct {
			name, method, path, body, contentType string
			status                                int
		}{
			{"unknown field", "POST", "/api/users", `{"email_address":"a@example.com","admin":true}`, "", 400},
			{"data after the value", "POST", "/api/users", `{"email_address":"a@example.com"} {}`, "", 400},
			{"not JSON", "POST", "/api/users", `email_address=a@example.com`, "application/x-www-form-urlencoded", 415},
			{"over the limit", "POST", "/api/users", `{"email_address":"` + strings.Repeat("a", 5<<10) + `@example.com"}`, "", 413},
			{"bogus state", "GET", "/api/webhooks/deliveries?state=bogus", "", "", 400},
			{"a user the tenant does not have", "POST", "/api/users/usr_nobody/privacy-requests", `{"kind":"access"}`, "", 404},
			{"a key without a name", "POST", "/api/keys", `{"scopes":["tenant:read"]}`, "", 400},
			{"a key without scopes", "POST", "/api/keys", `{"name":"x"}`, "", 400},
			{"a key with a scope the caller lacks", "POST", "/api/keys", `{"name":"x","scopes":["admin"]}`, "", 403},
		} {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			header := acme
			if tc.contentType != "" {
				header = append([]string{"Content-Type", tc.contentType}, acme...)
			}
			resp, got := s.call(t, tc.method, "localhost", tc.path, body, header...)
			assert.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, got)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tc.name)
		}
	})
	t.Run("white-label home pages", func(t *testing.T) {
		_, acme := s.call(t, "GET", "acme.localhost", "/", nil)
		assert.Contains(t, acme, "<h1>Acme Cloud</h1>")
		_, globex := s.call(t, "GET", "globex.localhost", "/", nil)
		assert.Contains(t, globex, "Globex Portal: the Globex portal")
	})
	t.Run("errors are problem+json", func(t *testing.T) {
		for host, status := range map[string]int{"nobody.localhost": 404, "localhost": 400, "bad_host.localhost": 400} {
			resp, body := s.call(t, "GET", host, "/api/branding", nil)
			assert.Equal(t, status, resp.StatusCode, host)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), body)
		}
		resp, _ := s.call(t, "GET", "localhost", "/api/tenant", nil, "X-API-Key", "sk_live_nope")
		assert.Equal(t, 401, resp.StatusCode)
		resp, _ = s.call(t, "GET", "globex.localhost", "/api/branding", nil, "Authorization", "Bearer sk_live_bogus")
		assert.Equal(t, 401, resp.StatusCode, "a bad credential is refused even on a public page")
	})
	t.Run("anonymous requests are limited apart from keys", func(t *testing.T) {
		limited := false
		for range 30 { // anonymous: a burst of 10 per client address
			resp, _ := s.call(t, "GET", "globex.localhost", "/api/branding", nil)
			if resp.StatusCode == 429 {
				limited = true
				assert.NotEmpty(t, resp.Header.Get("Retry-After"))
				break
			}
		}
		assert.True(t, limited, "anonymous requests never limited")
		resp, body := s.call(t, "GET", "globex.localhost", "/api/branding", nil, s.as(t, "globex")...)
		assert.Equal(t, 200, resp.StatusCode, "globex's key has its own bucket: %s", body)
	})
	t.Run("json logs carry the tenant and no secrets", func(t *testing.T) {
		found := false
		for _, l := range s.Lines() {
			if seededLine.MatchString(l) {
				continue // the one time a key is shown
			}
			assert.NotContains(t, l, keys["globex"][10:], "a log line holds an API key")
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "tenant read" && rec["tenant.id"] == "acme" {
				found = true
			}
		}
		assert.True(t, found, "no JSON log line with tenant.id")
	})

	s.Stop(t)

	// A restart keeps the tenants and keys and seeds nothing new.
	s = start(t, bin, data)
	resp, body = s.call(t, "GET", "localhost", "/api/tenant", nil, "X-API-Key", keys["globex"])
	assert.Equal(t, 200, resp.StatusCode, body)
	for _, l := range s.Lines() {
		assert.NotRegexp(t, seededLine, l)
	}
	s.Stop(t)
}

func TestDemoEncryptedUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	acme := s.as(t, "acme")

	resp, body := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":" Ada@Example.com ","first_name":"Ada","last_name":"Lovelace"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var created struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))

	resp, body = s.call(t, "GET", "localhost", "/api/users?email=ada@example.com", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `[{"id":"`+created.ID+`","email_address":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}]`, body)

	// Another tenant's index does not find acme's user.
	resp, body = s.call(t, "GET", "localhost", "/api/users?email=ada@example.com", nil, s.as(t, "globex")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `[]`, body)

	resp, body = s.call(t, "DELETE", "localhost", "/api/users/"+created.ID, nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, "shredded_keys")
	var logged map[string]any
	await.True(t, func() bool {
		for _, l := range s.Lines() {
			if strings.Contains(l, "user keys shredded") {
				return json.Unmarshal([]byte(l), &logged) == nil
			}
		}
		return false
	})
	assert.Equal(t, "acme", logged["tenant.id"], "logs carry the tenant")
	assert.Regexp(t, `^[0-9a-f]{32}$`, logged["trace_id"], "and the trace")
	resp, body = s.call(t, "GET", "localhost", "/api/users?email=ada@example.com", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `[{"id":"`+created.ID+`","erased":true}]`, body)

	resp, _ = s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"not an email"}`), acme...)
	assert.Equal(t, 400, resp.StatusCode)
}

func TestDemoWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	data := t.TempDir()
	s := start(t, buildDemo(t), data)
	defer s.Stop(t)
	acme := s.as(t, "acme")

	resp, body := s.call(t, "POST", "localhost", "/api/webhooks/endpoints",
		strings.NewReader(`{"url":"http://127.0.0.1:`+s.port+`/webhooks/inbound/acme"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, body, `"secret":"whsec_`)
	resp, _ = s.call(t, "POST", "localhost", "/api/webhooks/endpoints", strings.NewReader(`{"url":"ftp://nope"}`), acme...)
	assert.Equal(t, 400, resp.StatusCode)

	resp, body = s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"grace@example.com","first_name":"Grace","last_name":"Hopper"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var user struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &user))
	received := func() string {
		_, body := s.call(t, "GET", "localhost", "/api/webhooks/inbound", nil, s.as(t, "acme")...)
		return body
	}
	await.True(t, func() bool { return strings.Contains(received(), "user.created") },
		"the signed user.created event never arrived")

	resp, _ = s.call(t, "DELETE", "localhost", "/api/users/"+user.ID, nil, acme...)
	require.Equal(t, 200, resp.StatusCode)
	await.True(t, func() bool { return strings.Contains(received(), "user.erased") })
	// The same events wait in the outbox for other products: without
	// -nats the demo relays nothing, and erasure keeps what was not
	// relayed, for its consumers.
	assert.Contains(t, strings.Join(s.Lines(), "\n"), "events stay in the outbox")
	db, err := sql.Open("sqlite", filepath.Join(data, "saas.db"))
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT event_type, subject_key, relayed_at IS NULL FROM events_outbox WHERE tenant_id = 'acme' ORDER BY seq`)
	require.NoError(t, err)
	var outbox []string
	for rows.Next() {
		var typ, subject string
		var pending bool
		require.NoError(t, rows.Scan(&typ, &subject, &pending))
		outbox = append(outbox, fmt.Sprintf("%s %s %v", typ, subject, pending))
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"user.created " + user.ID + " true", "user.erased  true"}, outbox)

	resp, body = s.call(t, "GET", "localhost", "/api/webhooks/deliveries?state=dead", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `[]`, body)
	// An unsigned request to the receiver is refused.
	resp, _ = s.call(t, "POST", "localhost", "/webhooks/inbound/acme", strings.NewReader(`{"type":"forged"}`))
	assert.Equal(t, 400, resp.StatusCode)
}

var operatorLine = regexp.MustCompile(`operator token for /admin .*: (op_\w+)`)

// operatorToken is the operator token the demo printed at start.
func (s *server) operatorToken(t *testing.T) string {
	t.Helper()
	for _, l := range s.Lines() {
		if m := operatorLine.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatal("the operator token is not printed")
	return ""
}

// TestDemoFeatureFlags: usage-insights reaches the internal ring only;
// the operator adds globex to the ring, then kills the flag, and the
// gated API follows within the sync's second; the audit trail names
// every change.
func TestDemoFeatureFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	token := s.operatorToken(t)
	op := []string{"Authorization", "Bearer " + token}
	insights := func(tenant string) int {
		resp, _ := s.call(t, "GET", "localhost", "/api/insights", nil, s.as(t, tenant)...)
		return resp.StatusCode
	}
	assert.Equal(t, 200, insights("acme"), "acme is in the internal ring")
	assert.Equal(t, 404, insights("globex"))
	resp, body := s.call(t, "GET", "localhost", "/api/features", nil, s.as(t, "globex")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `{"usage-insights": {"enabled": false, "reason": "TARGETING_MATCH", "variant": "off"}}`, body)

	resp, _ = s.call(t, "POST", "localhost", "/admin/rings/internal/tenants", strings.NewReader(`{"tenant":"globex"}`))
	assert.Equal(t, 401, resp.StatusCode, "the operator endpoints need the token")
	for _, auth := range []string{"Basic " + token, "Bearer" + token, "Bearerx" + token, token + "       ", "Digest " + token} {
		resp, _ = s.call(t, "GET", "localhost", "/admin/flags/usage-insights/audit", nil, "Authorization", auth)
		assert.Equal(t, 401, resp.StatusCode, "Authorization %q is not the operator's bearer token", auth[:7])
	}
	resp, body = s.call(t, "POST", "localhost", "/admin/rings/internal/tenants", strings.NewReader(`{"tenant":"globex"}`), op...)
	require.Equal(t, 204, resp.StatusCode, body)
	await.True(t, func() bool { return insights("globex") == 200 })

	resp, body = s.call(t, "PUT", "localhost", "/admin/flags/usage-insights/percent", strings.NewReader(`{"percent":250}`), op...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = s.call(t, "POST", "localhost", "/admin/flags/usage-insights/kill", nil, op...)
	require.Equal(t, 204, resp.StatusCode, body)
	await.True(t, func() bool { return insights("acme") == 404 })

	resp, body = s.call(t, "GET", "localhost", "/admin/flags/usage-insights/audit", nil, op...)
	require.Equal(t, 200, resp.StatusCode, body)
	var trail []struct{ Actor, Action string }
	require.NoError(t, json.Unmarshal([]byte(body), &trail))
	require.NotEmpty(t, trail)
	assert.Equal(t, "operator", trail[0].Actor)
	assert.Equal(t, "set_state", trail[0].Action)
}

var update = flag.Bool("update", false, "rewrite the golden files of TestDemoAPIVersions")

// TestDemoAPIVersions calls the users API at every version with the same
// user in that version's shape and compares each response with its
// golden file (testdata/golden), so an accidental change to an old
// version fails here. It also checks the removed route, the tenant pin,
// unknown versions, and a webhook endpoint pinned to the oldest version.
func TestDemoAPIVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	acme := s.as(t, "acme")
	ids := regexp.MustCompile(`usr_[0-9a-f]{16}`)

	// A webhook endpoint created at 2024-01-01 receives that version's events.
	resp, body := s.call(t, "POST", "localhost", "/api/webhooks/endpoints",
		strings.NewReader(`{"url":"http://127.0.0.1:`+s.port+`/webhooks/inbound/acme"}`), append(acme, "API-Version", "2024-01-01")...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, body, `"api_version":"2024-01-01"`)

	requests := map[string]string{
		"2024-01-01": `{"email":"grace-2024-01-01@example.com","name":"Grace Brewster Hopper"}`,
		"2024-06-01": `{"email_address":"grace-2024-06-01@example.com","name":"Grace Brewster Hopper"}`,
		"2025-01-01": `{"email_address":"grace-2025-01-01@example.com","first_name":"Grace Brewster","last_name":"Hopper"}`,
	}
	for _, version := range []string{"2024-01-01", "2024-06-01", "2025-01-01"} {
		t.Run(version, func(t *testing.T) {
			at := append(acme, "API-Version", version)
			resp, created := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(requests[version]), at...)
			require.Equal(t, 201, resp.StatusCode, created)
			assert.Equal(t, version, resp.Header.Get("API-Version"))
			email := "grace-" + version + "@example.com"
			_, found := s.call(t, "GET", "localhost", "/api/users?email="+email, nil, at...)
			resp, lookup := s.call(t, "GET", "localhost", "/api/users/lookup?email="+email, nil, at...)
			if version == "2025-01-01" {
				assert.Equal(t, 410, resp.StatusCode, "removed in 2025-01-01")
				lookup = "gone"
			}
			got := ids.ReplaceAllString(fmt.Sprintf("POST /api/users\n%s\nGET /api/users\n%s\nGET /api/users/lookup\n%s\n", created, found, lookup), "usr_ID")
			golden := filepath.Join("testdata", "golden", "users-"+version+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -run TestDemoAPIVersions -update to create it")
			assert.Equal(t, string(want), got)
		})
	}

	// globex's first unversioned request pins it to the newest version.
	resp, _ = s.call(t, "GET", "localhost", "/api/tenant", nil, s.as(t, "globex")...)
	assert.Equal(t, "2025-01-01", resp.Header.Get("API-Version"))
	_, body = s.call(t, "GET", "localhost", "/api/tenant", nil, s.as(t, "globex")...)
	assert.Contains(t, body, `"api_version":"2025-01-01"`, "the pin is kept in the tenant's record")
	resp, body = s.call(t, "GET", "localhost", "/api/tenant", nil, append(s.as(t, "globex"), "API-Version", "2023-01-01")...)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, `"supported_versions":["2024-01-01","2024-06-01","2025-01-01"]`)

	received := func() string {
		_, body := s.call(t, "GET", "localhost", "/api/webhooks/inbound", nil, s.as(t, "acme")...)
		return body
	}
	await.True(t, func() bool { return strings.Count(received(), "user.created") == 3 })
	events := received()
	assert.Contains(t, events, `"email":"grace-2025-01-01@example.com"`, "the 2024-01-01 endpoint gets email")
	assert.Contains(t, events, `"name":"Grace Brewster Hopper"`, "and name")
	assert.NotContains(t, events, "first_name")

	_, changelog := s.call(t, "GET", "localhost", "/api/changelog", nil)
	assert.Contains(t, changelog, "## 2025-01-01 (current)")
	assert.Contains(t, changelog, "[OpenAPI document](/openapi/2024-01-01.json)")
	_, guide := s.call(t, "GET", "localhost", "/api/migration-guide", nil)
	assert.Contains(t, guide, "- In requests to `POST /api/users`: `email` is renamed `email_address`.")

	// Every version is held to its own OpenAPI document, served at
	// /openapi/<version>.json, over the walkthrough's requests.
	for _, v := range apiVersions {
		resp, doc := s.call(t, "GET", "localhost", "/openapi/"+v+".json", nil)
		require.Equal(t, 200, resp.StatusCode, doc)
		assert.Contains(t, doc, `"version":"`+v+`"`)
	}
	_, catalogue := s.call(t, "GET", "localhost", "/api/webhooks/event-types", nil, s.as(t, "acme")...)
	var types []struct {
		Name     string
		Versions map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(catalogue), &types), catalogue)
	for _, et := range types {
		if et.Name == "user.created" {
			assert.Contains(t, string(et.Versions["2024-01-01"]), `"email"`, "user.created as 2024-01-01 endpoints get it")
			assert.Contains(t, string(et.Versions["2025-01-01"]), `"first_name"`)
		}
	}
	api, err := newAPI(nil)
	require.NoError(t, err)
	versioningtest.CheckChanges(t, api)
	target, err := url.Parse("http://127.0.0.1:" + s.port)
	require.NoError(t, err)
	acmeKey := http.Header{"Authorization": {s.as(t, "acme")[1]}}
	versioningtest.RunContract(t, api, httputil.NewSingleHostReverseProxy(target), "", []versioningtest.Case{
		{Method: "POST", Path: "/api/users", Header: acmeKey, Body: `{"email":"contract@example.com","name":"Ada King Lovelace"}`,
			BodyFrom: map[string]string{
				"2024-06-01": `{"email_address":"contract@example.com","name":"Ada King Lovelace"}`,
				"2025-01-01": `{"email_address":"contract@example.com","first_name":"Ada","last_name":"Lovelace"}`,
			}},
		{Method: "GET", Path: "/api/users?email=contract@example.com", Header: acmeKey},
		{Method: "GET", Path: "/api/users/lookup?email=contract@example.com", Header: acmeKey},
		{Method: "GET", Path: "/api/users?email=not-an-address", Header: acmeKey},
		{Method: "DELETE", Path: "/api/users/usr_0000000000000000", Header: acmeKey},
	})
}

// TestDemoPrivacyRequests: an access request exports the user's
// decrypted record; an erasure request completes with every step done
// and leaves the user unreadable.
func TestDemoPrivacyRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	data := t.TempDir()
	s := start(t, buildDemo(t), data)
	defer s.Stop(t)
	acme := s.as(t, "acme")
	resp, body := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"lin@example.com","first_name":"Lin","last_name":"Wu"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var u struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &u))

	// The user consents to product updates, to the notice they were shown.
	resp, body = s.call(t, "GET", "localhost", "/api/consent/notice", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	var notice struct {
		Version int
		SHA256  string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &notice))
	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/consent", strings.NewReader(
		fmt.Sprintf(`{"granted":true,"notice_version":%d,"notice_hash":%q,"proof":"form-7"}`, notice.Version, notice.SHA256)), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/consent", strings.NewReader(`{"granted":true,"notice_version":1,"notice_hash":"00"}`), acme...)
	assert.Equal(t, 400, resp.StatusCode, "a grant must name the text shown: %s", body)
	_, body = s.call(t, "GET", "localhost", "/api/users/"+u.ID+"/consent", nil, acme...)
	assert.Contains(t, body, `"status":"granted"`)

	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/privacy-requests", strings.NewReader(`{"kind":"access"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var access struct {
		ID, State string
		DueAt     time.Time `json:"due_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &access))
	assert.Equal(t, "verified", access.State)
	assert.WithinDuration(t, time.Now().AddDate(0, 1, 0), access.DueAt, 72*time.Hour, "due in a month")
	resp, body = s.call(t, "GET", "localhost", "/api/privacy-requests/"+access.ID+"/export", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `"email_address":"lin@example.com"`)
	resp, _ = s.call(t, "GET", "localhost", "/api/privacy-requests/"+access.ID+"/export?format=zip", nil, acme...)
	assert.Equal(t, "application/zip", resp.Header.Get("Content-Type"))
	resp, _ = s.call(t, "GET", "localhost", "/api/privacy-requests/"+access.ID, nil, s.as(t, "globex")...)
	assert.Equal(t, 404, resp.StatusCode, "another tenant's request")

	// A legal hold stops both ways of erasing the user until it is lifted.
	operator := []string{"Authorization", "Bearer " + s.operatorToken(t)}
	resp, body = s.call(t, "PUT", "localhost", "/admin/tenants/acme/holds", strings.NewReader(`{"subject":"`+u.ID+`","reason":"litigation 2026-17"}`))
	assert.Equal(t, 401, resp.StatusCode, "holds need the operator: %s", body)
	resp, body = s.call(t, "PUT", "localhost", "/admin/tenants/acme/holds", strings.NewReader(`{"subject":"`+u.ID+`","reason":" "}`), operator...)
	assert.Equal(t, 400, resp.StatusCode, "a hold needs a reason: %s", body)
	resp, body = s.call(t, "PUT", "localhost", "/admin/tenants/ghost/holds", strings.NewReader(`{"subject":"`+u.ID+`","reason":"x"}`), operator...)
	assert.Equal(t, 404, resp.StatusCode, body)
	resp, body = s.call(t, "PUT", "localhost", "/admin/tenants/acme/holds", strings.NewReader(`{"subject":"`+u.ID+`","reason":"litigation 2026-17"}`), operator...)
	require.Equal(t, 200, resp.StatusCode, body)
	resp, body = s.call(t, "DELETE", "localhost", "/api/users/"+u.ID, nil, acme...)
	assert.Equal(t, 409, resp.StatusCode, "held: %s", body)
	assert.Contains(t, body, "litigation 2026-17")
	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/privacy-requests", strings.NewReader(`{"kind":"erasure"}`), acme...)
	assert.Equal(t, 409, resp.StatusCode, "held: %s", body)
	_, body = s.call(t, "GET", "localhost", "/admin/tenants/acme/holds", nil, operator...)
	assert.Contains(t, body, `"reason":"litigation 2026-17"`)
	resp, body = s.call(t, "DELETE", "localhost", "/admin/tenants/acme/holds?subject="+u.ID, nil, operator...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, _ = s.call(t, "DELETE", "localhost", "/admin/tenants/acme/holds?subject="+u.ID, nil, operator...)
	assert.Equal(t, 404, resp.StatusCode, "already lifted")

	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/privacy-requests", strings.NewReader(`{"kind":"erasure","regime":"ccpa"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var erasure struct {
		State string
		Steps map[string]struct {
			Done bool
			Note string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &erasure))
	assert.Equal(t, "completed", erasure.State)
	for _, step := range []string{"users", "webhook.messages", "consent", "crypto.subject-keys"} {
		assert.True(t, erasure.Steps[step].Done, step)
	}
	assert.Contains(t, erasure.Steps["crypto.subject-keys"].Note, "backups included")
	resp, body = s.call(t, "GET", "localhost", "/api/users?email=lin@example.com", nil, acme...)
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `[{"id":"`+u.ID+`","erased":true}]`, body)
	_, body = s.call(t, "GET", "localhost", "/api/users/"+u.ID+"/consent", nil, acme...)
	assert.Contains(t, body, `"status":"never"`, "the consent history now belongs to a pseudonym")

	resp, body = s.call(t, "GET", "localhost", "/api/privacy-audit", nil, acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	var report struct {
		OK      bool
		Records int
	}
	require.NoError(t, json.Unmarshal([]byte(body), &report))
	assert.True(t, report.OK, "the audit trail verifies: %s", body)
	assert.GreaterOrEqual(t, report.Records, 4, "submitted and verified, for each of two requests, and completed")
	assert.NotContains(t, body, u.ID, "the trail names subjects only by pseudonym")

	// Cutting the trail's tail leaves a valid chain; the checkpoints the
	// demo took after each change show the cut.
	db, err := sql.Open("sqlite", filepath.Join(data, "saas.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("DELETE FROM gdpr_audit WHERE tenant_id = 'acme' AND seq = (SELECT MAX(seq) FROM gdpr_audit WHERE tenant_id = 'acme')")
	require.NoError(t, err)
	_, body = s.call(t, "GET", "localhost", "/api/privacy-audit", nil, acme...)
	assert.Contains(t, body, `"ok":false`)
	assert.Contains(t, body, `"problem":"truncated"`)
}

// TestDemoBackups: the demo backs its database up and drills a restore
// at start; the operator sees both.
func TestDemoBackups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	data := t.TempDir()
	s := start(t, buildDemo(t), data)
	defer s.Stop(t)
	token := s.operatorToken(t)
	var status struct {
		Job struct {
			LastBackup string `json:"last_backup"`
			LastDrill  *struct {
				OK       bool
				Duration int64
			} `json:"last_drill"`
			Violations []string `json:"rule_321_violations"`
		}
		Backups []struct {
			ID, Source string
			KeyID      string `json:"key_id"`
		}
	}
	await.True(t, func() bool {
		resp, body := s.call(t, "GET", "localhost", "/admin/backups", nil, "Authorization", "Bearer "+token)
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &status) != nil {
			return false
		}
		return status.Job.LastDrill != nil
	})
	assert.True(t, status.Job.LastDrill.OK, "the start-up drill restored and checked the database")
	require.Len(t, status.Backups, 1)
	assert.Equal(t, "sqlite:saas.db", status.Backups[0].Source)
	assert.Equal(t, "keyring:backup/platform", status.Backups[0].KeyID)
	assert.NotEmpty(t, status.Job.Violations, "one local copy: the demo reports its 3-2-1 gaps")

	// The backup key lives apart from the database it backs up.
	count := func(file string) int {
		db, err := sql.Open("sqlite", filepath.Join(data, file)+"?mode=ro")
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM crypto_keys WHERE tenant_id LIKE '%platform%'").Scan(&n))
		return n
	}
	assert.Positive(t, count("backup-keys.db"), "the backup key is in backup-keys.db")
	assert.Zero(t, count("saas.db"), "the backup key is in the database it protects")

	// Every change is shipped continuously: a user created now is in a
	// point-in-time restore of the latest moment, made from the
	// command line, once the console's RPO shows it shipped.
	resp, body := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"pitr@example.com","first_name":"P","last_name":"T"}`), s.as(t, "acme")...)
	require.Equal(t, 201, resp.StatusCode, body)
	created := time.Now()
	var shipped struct {
		Replication *struct {
			Newest     time.Time
			RPOSeconds float64 `json:"rpo_seconds"`
		}
	}
	await.True(t, func() bool {
		_, body := s.call(t, "GET", "localhost", "/admin/backups", nil, "Authorization", "Bearer "+token)
		return json.Unmarshal([]byte(body), &shipped) == nil && shipped.Replication != nil && shipped.Replication.Newest.After(created)
	}, "the new user was never shipped")
	assert.Contains(t, consolePage(t, s, "/console/backups", consoleLogin(t, s, token)), "Achieved RPO")
	restored := filepath.Join(t.TempDir(), "restored.db")
	out, err := exec.Command("go", "run", "../../cmd/saaskit", "backup", "restore", "--data", data, "--at", "latest", "--to", restored).CombinedOutput()
	require.NoError(t, err, "%s", out)
	db, err := sql.Open("sqlite", restored+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var users int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM demo_users").Scan(&users))
	assert.Positive(t, users, "the restore holds the user created a moment before")
}

// TestWalkthrough runs every shell command of README.md, verbatim,
// from the repository's root, against the demo (started here the way
// the README starts it, its data directory in DATA), and checks what
// the README says they show.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var script []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(block[1], "go run ./examples/saas") {
			continue // the server: started below, as the README starts it
		}
		script = append(script, block[1])
	}
	require.NotEmpty(t, script)
	t.Setenv("SAASKIT_OPERATOR_TOKEN", "demo-operator")
	data := t.TempDir()
	s := start(t, buildDemo(t), data)
	defer s.Stop(t)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "BASE=http://127.0.0.1:"+s.port, "DATA="+data)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the walkthrough failed:\n%s", out)
	for _, want := range []string{
		`"name":"Acme Cloud"`, `"status":"pass"`, "created usr_",
		`"email":"ada@example.com"`, `"email_address":"ada@example.com"`, "## 2025-01-01 (current)",
		`"type":"user.created"`, "404\n", "401\n", "403\n", `"slug":"acme"`, `"tenant":"globex"`, `"action":"put_flag"`,
		`"kind":"erasure"`, `"erased":true`, `"ok":true`, `"source":"sqlite:saas.db"`,
		"restored saas.db as of 20", `"at": "latest"`, `"key":"new-nav","value":true`, "304\n",
		`"metric":"api_calls"`,
	} {
		assert.Contains(t, string(out), want)
	}
}

// TestDemoOnPostgres runs the demo on PostgreSQL (a fresh schema on the
// server SAASKIT_TEST_POSTGRES_DSN names): users encrypted and found,
// an old API version, an erasure, and a pg_dump backup with its drill.
func TestDemoOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir(), "-db", postgresSchema(t))
	defer s.Stop(t)
	acme := s.as(t, "acme")

	// Text PostgreSQL cannot hold, in paths and queries: not found or
	// invalid, never a 500.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/privacy-requests/%ff", 404},
		{"GET", "/api/privacy-requests/a%00b/export", 404},
		{"GET", "/api/webhooks/deliveries?after=a%00b", 400},
		{"DELETE", "/api/users/a%00b", 404},
		{"GET", "/api/users/%ff/consent", 404},
		{"POST", "/api/webhooks/deliveries/a%00b/retry", 404},
	} {
		resp, body := s.call(t, tc.method, "localhost", tc.path, nil, acme...)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.method, tc.path, body)
	}

	resp, body := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"lin@example.com","first_name":"Lin","last_name":"Wu"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var u struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &u))
	resp, body = s.call(t, "GET", "localhost", "/api/users?email=lin@example.com", nil, append(acme, "API-Version", "2024-01-01")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `[{"id":"`+u.ID+`","email":"lin@example.com","name":"Lin Wu"}]`, body)
	resp, body = s.call(t, "POST", "localhost", "/api/users/"+u.ID+"/privacy-requests", strings.NewReader(`{"kind":"erasure"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, body, `"state":"completed"`)

	token := s.operatorToken(t)
	var status struct {
		Job struct {
			LastDrill *struct{ OK bool } `json:"last_drill"`
		}
		Backups []struct{ Source string }
	}
	await.True(t, func() bool {
		resp, body := s.call(t, "GET", "localhost", "/admin/backups", nil, "Authorization", "Bearer "+token)
		return resp.StatusCode == 200 && json.Unmarshal([]byte(body), &status) == nil && status.Job.LastDrill != nil
	}, "no drill: %s", strings.Join(s.Lines(), "\n"))
	assert.True(t, status.Job.LastDrill.OK)
	require.NotEmpty(t, status.Backups)
	assert.Equal(t, "postgres:saas", status.Backups[0].Source)
}

// postgresSchema creates a schema on the server SAASKIT_TEST_POSTGRES_DSN
// names, dropped when t ends, and returns a DSN whose connections use
// it; it skips t when the variable is unset.
func postgresSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(sqldbtest.EnvPostgresDSN)
	if dsn == "" {
		t.Skip(sqldbtest.EnvPostgresDSN + " is unset: skipping the demo on PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	schema := fmt.Sprintf("demo_%d", time.Now().UnixNano())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "options=-csearch_path%3D" + schema
}

// TestDemoRefusesOtherTenantsIdentifiers attacks the demo as a stranger
// holding acme's API key would: every tenant API route, with each of
// globex's identifiers (its host, the X-Tenant-ID header). Nothing of
// globex may be read or written: every request is refused with 403, and
// globex's data is unchanged afterwards.
func TestDemoRefusesOtherTenantsIdentifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	acme, globex := s.as(t, "acme"), s.as(t, "globex")
	// globex has a user, a privacy request and an endpoint to aim at.
	resp, body := s.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"eve@globex.example","first_name":"Eve","last_name":"G"}`), globex...)
	require.Equal(t, 201, resp.StatusCode, body)
	var user struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &user))
	resp, body = s.call(t, "POST", "localhost", "/api/users/"+user.ID+"/privacy-requests", strings.NewReader(`{"kind":"access"}`), globex...)
	require.Equal(t, 201, resp.StatusCode, body)
	var request struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &request))
	snapshot := func() string {
		_, users := s.call(t, "GET", "localhost", "/api/users?email=eve@globex.example", nil, globex...)
		_, deliveries := s.call(t, "GET", "localhost", "/api/webhooks/deliveries", nil, globex...)
		return users + deliveries
	}
	before := snapshot()

	ids := strings.NewReplacer("{id}", user.ID)
	for _, pattern := range tenantPatterns() {
		method, path, _ := strings.Cut(pattern, " ")
		path = ids.Replace(path)
		if strings.HasPrefix(path, "/api/privacy-requests/") {
			path = strings.Replace(path, user.ID, request.ID, 1)
		}
		for _, named := range []struct {
			how, host string
			header    []string
		}{
			{"host", "globex.localhost", nil},
			{"header", "localhost", []string{"X-Tenant-ID", "globex"}},
		} {
			resp, body := s.call(t, method, named.host, path, strings.NewReader(`{"url":"https://attacker.example/x","email_address":"x@x.example","kind":"erasure","name":"x"}`),
				append(append([]string{}, acme...), named.header...)...)
			assert.Equal(t, 403, resp.StatusCode, "%s %s with acme's key and globex's %s: %s", method, path, named.how, body)
			assert.NotContains(t, body, "eve@globex.example")
		}
	}
	assert.Equal(t, before, snapshot(), "globex's data changed")
}

// tenantPatterns are the routes of tenant data: the tenant API's and a
// sample of the webhook management API's.
func tenantPatterns() []string {
	var out []string
	for _, r := range (&app{}).tenantAPI() {
		out = append(out, r.pattern)
	}
	return append(out, "POST /ofrep/v1/evaluate/flags", "POST /ofrep/v1/evaluate/flags/{id}",
		"GET /api/webhooks/manage/endpoints", "POST /api/webhooks/manage/endpoints",
		"GET /api/webhooks/manage/endpoints/{id}", "PUT /api/webhooks/manage/endpoints/{id}", "DELETE /api/webhooks/manage/endpoints/{id}",
		"POST /api/webhooks/manage/endpoints/{id}/rotate-secret", "POST /api/webhooks/manage/endpoints/{id}/replay",
		"GET /api/webhooks/manage/messages", "POST /api/webhooks/manage/messages/{id}/resend",
		"GET /api/webhooks/manage/deliveries", "GET /api/webhooks/manage/deliveries/{id}/attempts",
		"GET /portal/webhooks/", "GET /portal/webhooks/endpoints/new", "POST /portal/webhooks/endpoints",
		"GET /portal/webhooks/endpoints/{id}", "GET /portal/webhooks/endpoints/{id}/edit", "POST /portal/webhooks/endpoints/{id}",
		"POST /portal/webhooks/endpoints/{id}/delete", "POST /portal/webhooks/endpoints/{id}/disable",
		"POST /portal/webhooks/endpoints/{id}/enable", "POST /portal/webhooks/endpoints/{id}/rotate",
		"POST /portal/webhooks/endpoints/{id}/replay", "POST /portal/webhooks/endpoints/{id}/recover",
		"GET /portal/webhooks/event-types", "GET /portal/webhooks/messages", "GET /portal/webhooks/messages/{id}",
		"POST /portal/webhooks/messages/{id}/resend", "GET /portal/webhooks/messages/{id}/deliveries/{id}",
		"POST /portal/webhooks/messages/{id}/deliveries/{id}/retry", "GET /portal/webhooks/theme.css")
}

// TestDemoAnswersBadInputWithoutA500 walks every route of the demo with
// the inputs a stranger sends (a missing, malformed, unstorable or
// unknown id, a body that is empty, broken, of the wrong type or not an
// object), as acme's key and as the operator: the answers may refuse,
// but never fail with a 500. Keys take turns, so that no request is
// merely rate limited. Then it walks the console the same way (see
// walkConsole).
func TestDemoAnswersBadInputWithoutA500(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	operator := []string{"Authorization", "Bearer " + s.operatorToken(t)}
	var keys [][]string
	for range 20 {
		resp, body := s.call(t, "POST", "localhost", "/admin/tenants/acme/keys", strings.NewReader(`{"name":"walk","scopes":["tenant:read","keys:write"]}`), operator...)
		require.Equal(t, 201, resp.StatusCode, body)
		var key struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(body), &key))
		keys = append(keys, []string{"Authorization", "Bearer " + key.Token})
	}
	patterns := []string{
		"GET /{$}", "GET /api/branding", "GET /api/consent/notice", "GET /api/changelog", "GET /api/migration-guide", "GET /openapi/{id}",
		"POST /admin/flags/{key}/kill", "POST /admin/flags/{key}/revive", "PUT /admin/flags/{key}/percent",
		"POST /admin/rings/{key}/tenants", "GET /admin/flags/{key}/audit", "GET /admin/backups",
		"POST /admin/tenants/{tenant}/keys", "POST /webhooks/inbound/{tenant}", "POST /webhooks/gone",
	}
	patterns = append(patterns, tenantPatterns()...)
	ids := []string{"nope", "%00", "%ff", "a%2Fb", strings.Repeat("x", 300)}
	bodies := []string{"", "{", "[]", `"text"`, `{"email_address":null,"kind":7,"percent":"x","tenant":{},"name":[],"scopes":"x","url":1}`, strings.Repeat("{", 10000)}
	n := 0
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		path = strings.TrimSuffix(path, "{$}")
		caller := operator
		if !strings.HasPrefix(path, "/admin/") {
			caller = nil // set per request: a key in turn
		}
		for _, id := range ids {
			url := strings.NewReplacer("{id}", id, "{key}", id, "{tenant}", id).Replace(path)
			for _, body := range bodies {
				who := caller
				if who == nil {
					who, n = keys[n%len(keys)], n+1
				}
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				resp, got := s.call(t, method, "acme.localhost", url, rd, who...)
				assert.Less(t, resp.StatusCode, 500, "%s %s with body %.20q: %s", method, url, body, got)
				assert.NotEqual(t, http.StatusTooManyRequests, resp.StatusCode, "%s %s was only rate limited", method, url)
			}
		}
	}
	walkConsole(t, s, strings.TrimPrefix(operator[1], "Bearer "))
}

// walkConsole walks every page and action of the console with bad
// tenants, ids and flag keys, and with form values that are missing,
// malformed, unstorable, too long or too large, logged in as the
// operator (with the session's CSRF token) and without a session. No
// answer is a 500 and nothing is logged as an error; without a session
// every route but the log-in sends the client to it. Some ids and
// values are real ones of globex, under acme's pages: nothing of
// globex's changes.
func walkConsole(t *testing.T, s *server, operatorToken string) {
	globex := s.as(t, "globex")
	endpointID, userID, deliveryID := s.deadLetter(t, globex, "walk@globex.example")
	globexState := func() string {
		_, users := s.call(t, "GET", "localhost", "/api/users?email=walk@globex.example", nil, globex...)
		_, deliveries := s.call(t, "GET", "localhost", "/api/webhooks/deliveries", nil, globex...)
		return users + deliveries
	}
	before := globexState()
	cookie := consoleLogin(t, s, operatorToken)
	csrf := consoleCSRF(t, s, cookie)
	logged := len(s.Lines())

	tenants := []string{"acme", "nope", "%00", "%ff", "a%2Fb", strings.Repeat("x", 300)}
	ids := []string{"nope", "%00", "%ff", "a%2Fb", strings.Repeat("x", 300), endpointID, deliveryID}
	forms := []url.Values{
		{},
		{"url": {"https://hooks.example.com/walk"}, "state": {"DISABLED"}, "percent": {"100"}, "user": {userID}}, // valid, for another tenant's ids
		{"url": {"javascript:alert(1)"}, "state": {"enabled"}, "percent": {"-1"}, "user": {" "}, "name": {"*.customer.test"}},
		{"url": {"http://169.254.169.254/"}, "state": {"\x00"}, "percent": {"1e9"}, "user": {"\xff\x00"}, "name": {"\xff\x00.test"}},
		{"url": {strings.Repeat("x", 300)}, "state": {strings.Repeat("x", 300)}, "percent": {"99999999999999999999"}, "user": {strings.Repeat("x", 300)},
			"name": {strings.Repeat("x.", 200) + "test"}},
		{"url": {strings.Repeat("x", 10000)}}, // more than a console form may send
	}
	for _, r := range (&console{}).handlers() {
		method, path, _ := strings.Cut(r.pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		if path == "/console/login" || path == "/console/logout" {
			continue // walked last: failed log-ins are limited, and a log-out ends the session
		}
		for _, tenant := range tenants {
			for _, id := range ids {
				target := strings.NewReplacer("{tenant}", tenant, "{id}", id, "{key}", id, "{name}", id).Replace(path)
				switch method {
				case "GET":
					for _, query := range []string{"", "?state=nope", "?state=%00"} {
						resp := consoleSend(t, s, method, target+query, nil, cookie)
						assert.Less(t, resp.StatusCode, 500, "GET %s%s", target, query)
						resp = consoleSend(t, s, method, target+query, nil, nil)
						assertToLogin(t, resp, "GET "+target+query)
					}
				case "POST":
					for _, form := range forms {
						withToken := url.Values{"csrf": {csrf}}
						for k, v := range form {
							withToken[k] = v
						}
						what := fmt.Sprintf("POST %s with %.60q", target, form.Encode())
						resp := consoleSend(t, s, method, target, withToken, cookie)
						assert.Less(t, resp.StatusCode, 500, what)
						resp = consoleSend(t, s, method, target, withToken, nil)
						assertToLogin(t, resp, what+" without a session")
					}
				}
				if !strings.Contains(path, "{id}") && !strings.Contains(path, "{key}") && !strings.Contains(path, "{name}") {
					break
				}
			}
			if !strings.Contains(path, "{tenant}") {
				break
			}
		}
	}
	for _, line := range s.Lines()[logged:] {
		assert.NotContains(t, line, `"level":"ERROR"`, "the console walk logged an error")
	}
	assert.Equal(t, before, globexState(), "globex's data changed")
	page := consolePage(t, s, "/console/tenants/globex/webhooks", cookie)
	assert.Contains(t, page, "/webhooks/gone", "globex's endpoint was repointed")
	assert.Contains(t, page, "disabled: 410 Gone", "globex's endpoint was enabled")

	// The log-out and the log-in, last.
	for _, form := range forms {
		resp := consoleSend(t, s, "POST", "/console/logout", form, cookie)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a log-out without the CSRF token")
		resp = consoleSend(t, s, "POST", "/console/login", form, nil)
		assert.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, resp.StatusCode, "a log-in with %.60q", form.Encode())
	}
	assert.Equal(t, http.StatusOK, consoleSend(t, s, "GET", "/console/flags", nil, cookie).StatusCode, "the session ended")
}

// assertToLogin asserts that resp sends the client to the log-in page.
func assertToLogin(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, what)
	assert.Equal(t, "/console/login", resp.Header.Get("Location"), what)
}
