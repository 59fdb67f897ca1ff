package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/headless"
	"github.com/saaskit/saaskit/internal/ofrepweb"
)

// The frontend flag set over OFREP, behind each tenant's key, as the
// README's curl lines show it.
func TestDemoOFREP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	acme, globex := s.as(t, "acme"), s.as(t, "globex")
	eval := func(key string, header []string) (int, map[string]any) {
		resp, body := s.call(t, "POST", "localhost", "/ofrep/v1/evaluate/flags/"+key, strings.NewReader(`{"context": {"targetingKey": "user-1"}}`), header...)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		return resp.StatusCode, out
	}
	status, got := eval("new-nav", acme)
	require.Equal(t, 200, status, got)
	assert.Equal(t, true, got["value"], "acme gets the new navigation")
	assert.Equal(t, "TARGETING_MATCH", got["reason"])
	_, got = eval("new-nav", globex)
	assert.Equal(t, false, got["value"])
	_, got = eval("welcome-banner", acme)
	assert.Equal(t, "Welcome back, pro team!", got["value"], "by acme's plan")
	_, got = eval("welcome-banner", globex)
	assert.Equal(t, "Welcome!", got["value"])
	status, got = eval("usage-insights", acme)
	assert.Equal(t, 404, status, "the server's own flags are not in the frontend set")
	assert.Equal(t, "FLAG_NOT_FOUND", got["errorCode"])

	resp, _ := s.call(t, "POST", "acme.localhost", "/ofrep/v1/evaluate/flags/new-nav", strings.NewReader(`{"context": {}}`))
	assert.Equal(t, 401, resp.StatusCode, "a key is needed")

	resp, body := s.call(t, "POST", "localhost", "/ofrep/v1/evaluate/flags", strings.NewReader(`{"context": {"targetingKey": "user-1"}}`), acme...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.JSONEq(t, `{"flags": [
		{"key": "new-nav", "value": true, "reason": "TARGETING_MATCH", "variant": "on", "metadata": {"flagSetId": "frontend"}},
		{"key": "welcome-banner", "value": "Welcome back, pro team!", "reason": "TARGETING_MATCH", "variant": "pro", "metadata": {"flagSetId": "frontend"}}
	]}`, body)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, body = s.call(t, "POST", "localhost", "/ofrep/v1/evaluate/flags", strings.NewReader(`{"context": {"targetingKey": "user-1"}}`), append(acme, "If-None-Match", etag)...)
	assert.Equal(t, 304, resp.StatusCode)
	assert.Empty(t, body)
}

// The OpenFeature web SDK's OFREP provider in Chromium, with acme's key,
// against the demo: the page and the demo share an origin through a
// proxy.
func TestDemoOFREPWebProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	exe := headless.Chromium(t)
	modules := ofrepweb.Modules(t)
	s := start(t, buildDemo(t), t.TempDir())
	defer s.Stop(t)
	token := strings.TrimPrefix(s.as(t, "acme")[1], "Bearer ")

	demo, err := url.Parse("http://127.0.0.1:" + s.port)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(demo)
	var seen ofrepweb.Revalidations
	srv := httptest.NewServer(ofrepweb.Handler(modules, seen.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = "localhost:" + s.port
		proxy.ServeHTTP(w, r)
	}))))
	t.Cleanup(srv.Close)

	b := ofrepweb.Open(t, exe, srv.URL+ofrepweb.PagePath+"?poll=200&token="+url.QueryEscape(token))
	await.True(t, func() bool {
		require.Empty(t, ofrepweb.Eval[[]string](b, `window.errors`))
		return ofrepweb.Eval[bool](b, `window.ready === true`)
	}, "the provider becomes ready")
	assert.True(t, ofrepweb.Eval[bool](b, `client.getBooleanValue('new-nav', false)`))
	assert.Equal(t, "Welcome back, pro team!", ofrepweb.Eval[string](b, `client.getStringValue('welcome-banner', '')`))
	assert.Equal(t, "FLAG_NOT_FOUND", ofrepweb.Eval[string](b, `client.getBooleanDetails('usage-insights', false).errorCode`))
	await.True(t, func() bool { return seen.Saw(http.StatusNotModified) }, "polling revalidates with the ETag")
}
