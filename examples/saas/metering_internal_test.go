package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
)

// TestAPICallsAreMetered: each call to the tenant API counts against the
// month's API calls of the tenant's plan (here lowered to 2 by the
// tenant's own setting); past them, 429 problem+json until next month,
// while another tenant is served.
func TestAPICallsAreMetered(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.New(sqldbtest.OpenSQLite(t).DB)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	reg := tenancy.NewRegistry(store, store, tenancy.Options{})
	t.Cleanup(func() { _ = reg.Close() })
	keys := map[string]string{}
	for _, tn := range []*tenancy.Tenant{
		{ID: "tiny", Slug: "tiny", Name: "Tiny", Plan: "free", Settings: map[string]string{"limit." + apiCalls: "2"}},
		{ID: "acme", Slug: "acme", Name: "Acme", Plan: "pro"},
	} {
		_, err := reg.Create(ctx, tn)
		require.NoError(t, err)
		keys[tn.ID], _, err = reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{Name: "test"})
		require.NoError(t, err)
	}
	a, err := newApp(reg, store, nil, nil, nil, "localhost", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	a.api, err = newAPI(reg)
	require.NoError(t, err)
	h := a.authed(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strconv.FormatInt(tenancy.UsageFromContext(r.Context())[apiCalls], 10))
	})
	call := func(tenant string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://localhost/api/tenant", nil)
		r.Header.Set("Authorization", "Bearer "+keys[tenant])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}

	for i := 1; i <= 2; i++ {
		rec := call("tiny")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, strconv.Itoa(i), rec.Body.String(), "the handler sees this month's count")
	}
	rec := call("tiny")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	var p struct {
		Status int
		Detail string
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, http.StatusTooManyRequests, p.Status)
	assert.Contains(t, p.Detail, `tenant "tiny" used its 2 api_calls for this month`)

	rec = call("acme")
	assert.Equal(t, http.StatusOK, rec.Code, "another tenant's calls are its own")
	assert.Equal(t, "1", rec.Body.String())
}

// TestUsageIsTheKeysTenants: GET /api/usage answers the usage and
// limits of the API key's tenant, and acme's key never reads globex's,
// whatever host, header, query or path names globex.
func TestUsageIsTheKeysTenants(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.New(sqldbtest.OpenSQLite(t).DB)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	reg := tenancy.NewRegistry(store, store, tenancy.Options{})
	t.Cleanup(func() { _ = reg.Close() })
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme", Plan: "pro"}
	globex := &tenancy.Tenant{ID: "globex", Slug: "globex", Name: "Globex", Plan: "free"}
	for _, tn := range []*tenancy.Tenant{acme, globex} {
		_, err := reg.Create(ctx, tn)
		require.NoError(t, err)
	}
	key, _, err := reg.CreateKey(ctx, "acme", tenancy.KeyOptions{Name: "test"})
	require.NoError(t, err)
	a, err := newApp(reg, store, nil, nil, nil, "localhost", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	a.api, err = newAPI(reg)
	require.NoError(t, err)
	_, err = a.meter.Consume(tenancy.WithTenant(ctx, globex), apiCalls, 777)
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, r := range a.tenantAPI() {
		mux.Handle(r.pattern, a.authed(r.handler, r.scopes...))
	}
	call := func(host, path string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://"+host+path, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}

	rec := call("localhost", "/api/usage")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got usageResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, got.Usage, 1)
	u := got.Usage[0]
	assert.Equal(t, "acme", got.Tenant)
	assert.Equal(t, apiCalls, u.Metric)
	assert.EqualValues(t, 1, u.Used, "this call counted")
	require.NotNil(t, u.Limit)
	assert.EqualValues(t, 1_000_000, *u.Limit, "pro's limit")
	assert.EqualValues(t, 999_999, *u.Remaining)
	assert.Equal(t, "month", u.Period)
	assert.True(t, u.Reset.After(u.Start))

	for _, c := range []struct {
		how, host, path string
		header          []string
	}{
		{"host", "globex.localhost", "/api/usage", nil},
		{"header", "localhost", "/api/usage", []string{"X-Tenant-ID", "globex"}},
		{"query", "localhost", "/api/usage?tenant=globex&tenant_id=globex", nil},
		{"path", "localhost", "/api/usage/globex", nil},
	} {
		rec := call(c.host, c.path, c.header...)
		body := rec.Body.String()
		assert.NotContains(t, body, "globex", "%s naming globex: %d %s", c.how, rec.Code, body)
		assert.NotContains(t, body, "777", "%s naming globex", c.how)
		assert.NotContains(t, body, "9223", "%s naming globex: free's remaining", c.how)
		if rec.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, "acme", got.Tenant, c.how)
		}
	}
	assert.Equal(t, http.StatusForbidden, call("globex.localhost", "/api/usage").Code, "a host of another tenant than the key's")
	assert.Equal(t, http.StatusForbidden, call("localhost", "/api/usage", "X-Tenant-ID", "globex").Code)

	report, err := a.meter.Report(tenancy.WithTenant(ctx, globex), apiCalls)
	require.NoError(t, err)
	assert.EqualValues(t, 777, report.Used, "acme's calls never counted as globex's")

	doc := httptest.NewRecorder()
	a.api.OpenAPIHandler().ServeHTTP(doc, httptest.NewRequest("GET", "/openapi/2024-01-01.json", nil))
	require.Equal(t, http.StatusOK, doc.Code)
	assert.Contains(t, doc.Body.String(), `"/api/usage"`, "documented in every version")
	assert.Contains(t, doc.Body.String(), `"resets_at"`)
}
