package ofrep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/ofrep"
	"github.com/saaskit/saaskit/tenancy"
)

// document has a flag of every type, flags that defer to the code
// default, a broken flag, a rule naming no variant, tenant targeting,
// and a backend set the frontend handler must not show.
const document = `{
  "flags": {"internal": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}},
  "sets": {
    "frontend": {
      "metadata": {"team": "web", "nested": {"dropped": true}},
      "flags": {
        "new-nav": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
          "targeting": {"if": [{"==": [{"var": "tenantId"}, "acme"]}, "on"]}},
        "greeting": {"state": "ENABLED", "variants": {"en": "hello", "fr": "bonjour"}, "defaultVariant": "en",
          "targeting": {"if": [{"==": [{"var": "lang"}, "fr"]}, "fr"]}},
        "page-size": {"state": "ENABLED", "variants": {"small": 10, "big": 50}, "defaultVariant": "big"},
        "ratio": {"state": "ENABLED", "variants": {"a": 0.25}, "defaultVariant": "a"},
        "theme": {"state": "ENABLED", "variants": {"dark": {"bg": "#000", "fg": "#fff"}}, "defaultVariant": "dark"},
        "killed": {"state": "DISABLED", "variants": {"on": true}, "defaultVariant": "on"},
        "no-default": {"state": "ENABLED", "variants": {"on": true}},
        "wrong-rule": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "targeting": {"if": [true, "nope"]}},
        "broken": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "missing"}
      }
    },
    "backend": {"flags": {"batch": {"state": "ENABLED", "variants": {"n": 100}, "defaultVariant": "n"}}}
  }
}`

var (
	acme   = &tenancy.Tenant{ID: "acme", Plan: "pro"}
	globex = &tenancy.Tenant{ID: "globex"}
)

// newEvaluator serves the frontend and backend sets.
func newEvaluator(t testing.TB) *flags.Evaluator {
	set, err := flags.Parse([]byte(document))
	require.ErrorContains(t, err, "broken", "the broken flag is part of the test")
	ev := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend", "backend"}})
	require.Contains(t, ev.Current().Keys(), "batch")
	return ev
}

// asTenant authenticates every request as a principal of tenant (nil:
// none) and resolves the request's tenant as resolved.
func asTenant(resolved, principal *tenancy.Tenant, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if resolved != nil {
			ctx = tenancy.WithTenant(ctx, resolved)
		}
		if principal != nil {
			ctx = tenancy.WithPrincipal(ctx, &tenancy.Principal{Tenant: principal, Subject: "key:test"})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// The client below is written from OFREP's openapi.yaml, not from the
// package's types.

// evaluation is evaluationSuccess, evaluationFailure and flagNotFound.
type evaluation struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Metadata     map[string]any  `json:"metadata"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
}

type bulkResponse struct {
	Flags    []evaluation   `json:"flags"`
	Metadata map[string]any `json:"metadata"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func post(t testing.TB, url, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, data}
}

func (r response) evaluation(t testing.TB) evaluation {
	t.Helper()
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var e evaluation
	require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
	return e
}

func server(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSingleEvaluation(t *testing.T) {
	h := ofrep.NewHandler(newEvaluator(t), ofrep.Options{Sets: []string{"frontend"}})
	url := server(t, asTenant(acme, acme, h)) + "/ofrep/v1/evaluate/flags/"
	tests := []struct {
		key, context string
		status       int
		value        string // JSON; "" for none (code default)
		reason       string
		variant      string
		errorCode    string
	}{
		{"new-nav", `{"targetingKey": "u1"}`, 200, `true`, "TARGETING_MATCH", "on", ""},
		{"greeting", `{"targetingKey": "u1"}`, 200, `"hello"`, "DEFAULT", "en", ""},
		{"greeting", `{"targetingKey": "u1", "lang": "fr"}`, 200, `"bonjour"`, "TARGETING_MATCH", "fr", ""},
		{"page-size", `{"targetingKey": "u1"}`, 200, `50`, "STATIC", "big", ""},
		{"ratio", `{}`, 200, `0.25`, "STATIC", "a", ""},
		{"theme", `{"targetingKey": "u1"}`, 200, `{"bg":"#000","fg":"#fff"}`, "STATIC", "dark", ""},
		{"killed", `{"targetingKey": "u1"}`, 200, "", "DISABLED", "", ""},
		{"no-default", `{"targetingKey": "u1"}`, 200, "", "DEFAULT", "", ""},
		{"wrong-rule", `{"targetingKey": "u1"}`, 400, "", "", "", "GENERAL"},
		{"broken", `{"targetingKey": "u1"}`, 400, "", "", "", "PARSE_ERROR"},
		{"nope", `{"targetingKey": "u1"}`, 404, "", "", "", "FLAG_NOT_FOUND"},
		{"batch", `{"targetingKey": "u1"}`, 404, "", "", "", "FLAG_NOT_FOUND"},    // backend set: out of scope
		{"internal", `{"targetingKey": "u1"}`, 404, "", "", "", "FLAG_NOT_FOUND"}, // not served at all
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			resp := post(t, url+tc.key, `{"context": `+tc.context+`}`)
			require.Equal(t, tc.status, resp.status, string(resp.body))
			e := resp.evaluation(t)
			assert.Equal(t, tc.key, e.Key, "key is in every evaluation response")
			assert.Equal(t, tc.errorCode, e.ErrorCode)
			if tc.errorCode != "" {
				assert.NotEmpty(t, e.ErrorDetails)
				assert.Nil(t, e.Value)
				assert.Empty(t, e.Reason)
				return
			}
			if tc.value == "" {
				assert.Nil(t, e.Value, "codeDefaultFlag: no value")
			} else {
				assert.JSONEq(t, tc.value, string(e.Value))
			}
			assert.Equal(t, tc.reason, e.Reason)
			assert.Equal(t, tc.variant, e.Variant)
			assert.Equal(t, map[string]any{"team": "web", "flagSetId": "frontend"}, e.Metadata, "scalars only")
		})
	}
}

func TestBadRequests(t *testing.T) {
	h := ofrep.NewHandler(newEvaluator(t), ofrep.Options{MaxBody: 256})
	base := server(t, asTenant(acme, acme, h))
	tests := []struct {
		name, body, code string
	}{
		{"not JSON", `{"context": `, "PARSE_ERROR"},
		{"not an object", `[1, 2]`, "PARSE_ERROR"},
		{"empty", ``, "PARSE_ERROR"},
		{"trailing data", `{"context": {}} {}`, "PARSE_ERROR"},
		{"too large", `{"context": {"pad": "` + strings.Repeat("x", 300) + `"}}`, "PARSE_ERROR"},
		{"no context", `{}`, "INVALID_CONTEXT"},
		{"null context", `{"context": null}`, "INVALID_CONTEXT"},
		{"context not an object", `{"context": "acme"}`, "INVALID_CONTEXT"},
		{"targetingKey not a string", `{"context": {"targetingKey": 42}}`, "INVALID_CONTEXT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/ofrep/v1/evaluate/flags/greeting", tc.body)
			require.Equal(t, http.StatusBadRequest, resp.status)
			e := resp.evaluation(t)
			assert.Equal(t, "greeting", e.Key, "evaluationFailure names the flag")
			assert.Equal(t, tc.code, e.ErrorCode)
			assert.NotEmpty(t, e.ErrorDetails)

			resp = post(t, base+"/ofrep/v1/evaluate/flags", tc.body)
			require.Equal(t, http.StatusBadRequest, resp.status)
			var failure map[string]any
			require.NoError(t, json.Unmarshal(resp.body, &failure))
			assert.Equal(t, tc.code, failure["errorCode"], "bulkEvaluationFailure")
			assert.NotContains(t, failure, "key")
			assert.Empty(t, resp.header.Get("ETag"))
		})
	}
	req, err := http.NewRequest(http.MethodGet, base+"/ofrep/v1/evaluate/flags", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "evaluation is POST")
	assert.Equal(t, "POST", resp.Header.Get("Allow"))
}

func TestBulkEvaluationAndETag(t *testing.T) {
	ev := newEvaluator(t)
	h := ofrep.NewHandler(ev, ofrep.Options{Sets: []string{"frontend"}})
	url := server(t, asTenant(acme, acme, h)) + "/ofrep/v1/evaluate/flags"
	resp := post(t, url, `{"context": {"targetingKey": "u1", "lang": "fr"}}`)
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	var got bulkResponse
	require.NoError(t, json.Unmarshal(resp.body, &got))
	byKey := map[string]evaluation{}
	var keys []string
	for _, e := range got.Flags {
		byKey[e.Key] = e
		keys = append(keys, e.Key)
	}
	assert.Equal(t, []string{"broken", "greeting", "killed", "new-nav", "no-default", "page-size", "ratio", "theme", "wrong-rule"}, keys,
		"the frontend set only")
	assert.JSONEq(t, `"bonjour"`, string(byKey["greeting"].Value))
	assert.JSONEq(t, `true`, string(byKey["new-nav"].Value))
	assert.Equal(t, "TARGETING_MATCH", byKey["new-nav"].Reason)
	assert.Nil(t, byKey["killed"].Value)
	assert.Equal(t, "DISABLED", byKey["killed"].Reason)
	assert.Equal(t, "PARSE_ERROR", byKey["broken"].ErrorCode, "a failure item within a success")
	assert.Equal(t, "GENERAL", byKey["wrong-rule"].ErrorCode)

	etag := resp.header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.True(t, strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`), "a quoted entity tag")

	same := post(t, url, `{"context": {"targetingKey": "u1", "lang": "fr"}}`, "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, same.status)
	assert.Empty(t, same.body)
	assert.Equal(t, etag, same.header.Get("ETag"))
	for _, r := range []response{resp, same} {
		assert.Equal(t, "private, no-cache", r.header.Get("Cache-Control"), "no shared cache keeps a tenant's values")
	}
	assert.Equal(t, http.StatusNotModified, post(t, url, `{"context": {"targetingKey": "u1", "lang": "fr"}}`, "If-None-Match", `"x", W/`+etag).status)

	other := post(t, url, `{"context": {"targetingKey": "u1", "lang": "en"}}`, "If-None-Match", etag)
	assert.Equal(t, http.StatusOK, other.status, "another context, other values")
	assert.NotEqual(t, etag, other.header.Get("ETag"))

	require.NoError(t, ev.Edit(func(d *flags.Definitions) error {
		front := d.Sets["frontend"]
		front.Flags["greeting"].Variants["fr"] = "salut" // maps: changed in place
		delete(front.Flags, "broken")                    // an edit must leave valid definitions
		return nil
	}))
	changed := post(t, url, `{"context": {"targetingKey": "u1", "lang": "fr"}}`, "If-None-Match", etag)
	require.Equal(t, http.StatusOK, changed.status, "the flags changed")
	assert.Contains(t, string(changed.body), `"salut"`)
	assert.NotEqual(t, etag, changed.header.Get("ETag"))
}

func TestTenantEntersTheContext(t *testing.T) {
	h := ofrep.NewHandler(newEvaluator(t), ofrep.Options{})
	acmeURL := server(t, asTenant(acme, acme, h)) + "/ofrep/v1/evaluate/flags/new-nav"
	globexURL := server(t, asTenant(globex, globex, h)) + "/ofrep/v1/evaluate/flags/new-nav"

	assert.JSONEq(t, `true`, string(post(t, acmeURL, `{"context": {}}`).evaluation(t).Value))
	assert.JSONEq(t, `false`, string(post(t, globexURL, `{"context": {}}`).evaluation(t).Value))
	spoof := post(t, globexURL, `{"context": {"tenantId": "acme"}}`).evaluation(t)
	assert.JSONEq(t, `false`, string(spoof.Value), "a client cannot claim another tenant")
}

// TestUsageComesFromTheServer: a rule on tenantUsage reads the usage the
// server put in the request context, never what the client sent.
func TestUsageComesFromTheServer(t *testing.T) {
	set, err := flags.Parse([]byte(`{"flags": {"upgrade-banner": {"state": "ENABLED",
	  "variants": {"on": true, "off": false}, "defaultVariant": "off",
	  "targeting": {"if": [{">": [{"var": "tenantUsage.api_calls"}, 800]}, "on"]}}}}`))
	require.NoError(t, err)
	h := ofrep.NewHandler(flags.NewEvaluator(set, flags.Options{}), ofrep.Options{})
	withUsage := func(n int64, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(tenancy.WithUsage(r.Context(), map[string]int64{"api_calls": n})))
		})
	}
	heavy := server(t, asTenant(acme, acme, withUsage(900, h))) + "/ofrep/v1/evaluate/flags/upgrade-banner"
	light := server(t, asTenant(acme, acme, withUsage(10, h))) + "/ofrep/v1/evaluate/flags/upgrade-banner"
	assert.JSONEq(t, `true`, string(post(t, heavy, `{"context": {}}`).evaluation(t).Value))
	assert.JSONEq(t, `false`, string(post(t, light, `{"context": {}}`).evaluation(t).Value))
	spoof := post(t, light, `{"context": {"tenantUsage": {"api_calls": 5000}}}`).evaluation(t)
	assert.JSONEq(t, `false`, string(spoof.Value), "a client cannot claim another usage")
}

func TestAuthorization(t *testing.T) {
	h := ofrep.NewHandler(newEvaluator(t), ofrep.Options{})
	for name, tc := range map[string]struct {
		resolved, principal *tenancy.Tenant
		status              int
	}{
		"no credential":           {acme, nil, http.StatusUnauthorized},
		"another tenant's key":    {acme, globex, http.StatusForbidden},
		"a key but no tenant":     {nil, acme, http.StatusForbidden},
		"the tenant's credential": {acme, acme, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			base := server(t, asTenant(tc.resolved, tc.principal, h))
			assert.Equal(t, tc.status, post(t, base+"/ofrep/v1/evaluate/flags/greeting", `{"context": {}}`).status)
			assert.Equal(t, tc.status, post(t, base+"/ofrep/v1/evaluate/flags", `{"context": {}}`).status)
		})
	}
	public := server(t, ofrep.NewHandler(newEvaluator(t), ofrep.Options{Public: true}))
	assert.Equal(t, http.StatusOK, post(t, public+"/ofrep/v1/evaluate/flags/greeting", `{"context": {}}`).status)
}

func TestRateLimit(t *testing.T) {
	allow := false
	h := ofrep.NewHandler(newEvaluator(t), ofrep.Options{Public: true, Limit: func(*http.Request) (time.Duration, bool) {
		return 1500 * time.Millisecond, allow
	}})
	base := server(t, h)
	for _, path := range []string{"/ofrep/v1/evaluate/flags/greeting", "/ofrep/v1/evaluate/flags"} {
		resp := post(t, base+path, `{"context": {}}`)
		assert.Equal(t, http.StatusTooManyRequests, resp.status)
		assert.Equal(t, "2", resp.header.Get("Retry-After"), "whole seconds, rounded up")
	}
	allow = true
	assert.Equal(t, http.StatusOK, post(t, base+"/ofrep/v1/evaluate/flags/greeting", `{"context": {}}`).status)
}

// A fault of the server is a 500 with OFREP's generalErrorResponse.
func TestServerFault(t *testing.T) {
	set, err := flags.Compile(flags.Definitions{Flags: map[string]flags.Flag{
		"odd": {State: flags.Enabled, Variants: map[string]any{"x": map[string]any{"n": math.NaN()}}, DefaultVariant: "x"},
	}})
	require.NoError(t, err)
	h := ofrep.NewHandler(flags.NewEvaluator(set, flags.Options{}), ofrep.Options{Public: true})
	base := server(t, h)
	for _, path := range []string{"/ofrep/v1/evaluate/flags/odd", "/ofrep/v1/evaluate/flags"} {
		resp := post(t, base+path, `{"context": {}}`)
		require.Equal(t, http.StatusInternalServerError, resp.status)
		var general map[string]any
		require.NoError(t, json.Unmarshal(resp.body, &general))
		assert.Equal(t, []string{"errorDetails"}, keysOf(general))
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The handler answers through any mux it is mounted in.
func TestMountedUnderAPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/ofrep/", ofrep.NewHandler(newEvaluator(t), ofrep.Options{Public: true}))
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/ofrep/v1/evaluate/flags/page-size", bytes.NewReader([]byte(`{"context": {}}`)))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"key":"page-size","value":50,"reason":"STATIC","variant":"big","metadata":{"team":"web","flagSetId":"frontend"}}`, rec.Body.String())
}
