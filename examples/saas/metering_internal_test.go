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
