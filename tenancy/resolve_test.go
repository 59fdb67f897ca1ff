package tenancy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

type claimsKey struct{}

// resolutionFixture has acme (active, custom domain), globex (active),
// initech (suspended) and gone (deleted), and a middleware with every
// resolver, behind which a handler echoes the tenant slug.
func resolutionFixture(t *testing.T) (*fixture, http.Handler) {
	t.Helper()
	f := newFixture(t, tenancy.Options{})
	f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme", Domains: []string{"app.acme.com"}})
	f.create(t, &tenancy.Tenant{ID: "t-globex", Slug: "globex", Name: "Globex"})
	f.create(t, &tenancy.Tenant{ID: "t-initech", Slug: "initech", Name: "Initech", Status: tenancy.StatusSuspended})
	f.create(t, &tenancy.Tenant{ID: "t-gone", Slug: "gone", Name: "Gone", Status: tenancy.StatusDeleted})

	sub, err := tenancy.Subdomain(f.reg, []string{"example.com", "localhost"}, "www", "api")
	require.NoError(t, err)
	header, err := tenancy.Header(f.reg, "", tenancy.ByID)
	require.NoError(t, err)
	path, err := tenancy.PathPrefix(f.reg, "", tenancy.BySlug)
	require.NoError(t, err)
	claims, err := tenancy.Claims(f.reg, tenancy.ByID, func(ctx context.Context) (tenancy.Claim, bool) {
		v, ok := ctx.Value(claimsKey{}).(string)
		return tenancy.Claim{Tenant: v, Subject: "user-1"}, ok
	})
	require.NoError(t, err)
	mw := tenancy.Middleware(tenancy.MiddlewareOptions{
		Identify:     []tenancy.Resolver{tenancy.CustomDomain(f.reg), sub, header, path},
		Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(f.reg), claims},
	})
	return f, mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, err := tenancy.FromContext(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out := tn.Slug
		if p, ok := tenancy.PrincipalFromContext(r.Context()); ok && p.Key != nil {
			out += " key=" + p.Key.Name
		} else if ok {
			out += " subject=" + p.Subject
		}
		_, _ = w.Write([]byte(out))
	}))
}

func TestMiddlewareResolves(t *testing.T) {
	f, h := resolutionFixture(t)
	tok, _, err := f.reg.CreateKey(context.Background(), "t-globex", tenancy.KeyOptions{Name: "ci"})
	require.NoError(t, err)

	tests := []struct {
		name   string
		host   string
		path   string
		header map[string]string
		claim  string
		status int
		body   string
	}{
		{"subdomain", "acme.example.com", "/", nil, "", 200, "acme"},
		{"subdomain with port", "acme.localhost:8080", "/", nil, "", 200, "acme"},
		{"subdomain upper case", "ACME.Example.COM", "/", nil, "", 200, "acme"},
		{"subdomain trailing dot", "globex.example.com.", "/", nil, "", 200, "globex"},
		{"custom domain", "app.acme.com", "/", nil, "", 200, "acme"},
		{"custom domain wins over header", "app.acme.com", "/", map[string]string{"X-Tenant-ID": "t-globex"}, "", 200, "acme"},
		{"header", "localhost", "/", map[string]string{"X-Tenant-ID": "t-globex"}, "", 200, "globex"},
		{"reserved subdomain falls through", "www.example.com", "/", map[string]string{"X-Tenant-ID": "t-acme"}, "", 200, "acme"},
		{"path prefix", "localhost", "/t/globex/invoices", nil, "", 200, "globex"},
		{"api key bearer", "localhost", "/", map[string]string{"Authorization": "Bearer " + tok}, "", 200, "globex key=ci"},
		{"api key header", "localhost", "/", map[string]string{"X-API-Key": tok}, "", 200, "globex key=ci"},
		{"claims", "localhost", "/", map[string]string{"Authorization": "Bearer eyJhbGciOi.jwt"}, "t-acme", 200, "acme subject=user-1"},
		{"jwt with an underscore reaches claims", "localhost", "/", map[string]string{"Authorization": "Bearer eyJhbG_ciOi.j_wt"}, "t-acme", 200, "acme subject=user-1"},
		{"claims naming an unknown tenant", "localhost", "/", nil, "t-nope", 401, ""},
		{"nothing", "localhost", "/", nil, "", 400, ""},
		{"ip host", "127.0.0.1:8080", "/", nil, "", 400, ""},
		{"unknown subdomain", "nope.example.com", "/", nil, "", 404, ""},
		{"unknown header", "localhost", "/", map[string]string{"X-Tenant-ID": "nope"}, "", 404, ""},
		{"unknown path", "localhost", "/t/nope/", nil, "", 404, ""},
		{"suspended", "initech.example.com", "/", nil, "", 403, ""},
		{"deleted", "gone.example.com", "/", nil, "", 404, ""},
		{"nested subdomain", "a.acme.example.com", "/", nil, "", 400, ""},
		{"bad host character", "ac_me.example.com", "/", nil, "", 400, ""},
		{"bad port", "acme.example.com:80x", "/", nil, "", 400, ""},
		{"oversized host", strings.Repeat("a", 300) + ".example.com", "/", nil, "", 400, ""},
		{"malformed header", "localhost", "/", map[string]string{"X-Tenant-ID": "a b"}, "", 400, ""},
		{"oversized header", "localhost", "/", map[string]string{"X-Tenant-ID": strings.Repeat("a", 300)}, "", 400, ""},
		{"malformed path", "localhost", "/t/Bad_Slug/", nil, "", 400, ""},
		{"api key typo", "localhost", "/", map[string]string{"X-API-Key": swapChar(tok, len(tok)-1)}, "", 401, ""},
		{"bogus bearer key", "localhost", "/", map[string]string{"Authorization": "Bearer sk_live_bogus"}, "", 401, ""},
		{"api key unknown", "localhost", "/", map[string]string{"X-API-Key": forgeToken(t, "sk_live_")}, "", 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://x"+tc.path, nil)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.claim != "" {
				req = req.WithContext(context.WithValue(req.Context(), claimsKey{}, tc.claim))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status == 200 {
				assert.Equal(t, tc.body, rec.Body.String())
				return
			}
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, tc.status, p.Status)
			assert.NotEmpty(t, p.Detail)
			if tc.status == 401 {
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestMiddlewareOptionalAndStoreFailure(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	hdr, err := tenancy.Header(f.reg, "X-Org", tenancy.BySlug)
	require.NoError(t, err)
	var sawTenant bool
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := tenancy.FromContext(r.Context())
		sawTenant = err == nil
	})
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{hdr}, Optional: true})(next)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 200, rec.Code)
	assert.False(t, sawTenant)

	f.store.fail.Store(true)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Org", "acme")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "database is down", "internal errors leak to clients")
}

func TestResolverConstructorsValidate(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	_, err := tenancy.Subdomain(f.reg, nil)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.Subdomain(f.reg, []string{"bad_domain.com"})
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.Subdomain(nil, []string{"example.com"})
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.Header(f.reg, "", tenancy.ByDomain)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.PathPrefix(f.reg, "t", tenancy.BySlug)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.Claims(f.reg, tenancy.ByID, nil)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestHTTPStatus(t *testing.T) {
	for err, want := range map[error]int{
		tenancy.ErrMalformed: 400, tenancy.ErrInvalid: 400, tenancy.ErrUnauthenticated: 401,
		tenancy.ErrSuspended: 403, tenancy.ErrForbidden: 403, tenancy.ErrNotFound: 404, tenancy.ErrNoTenant: 404, context.Canceled: 500,
	} {
		assert.Equal(t, want, tenancy.HTTPStatus(err), err.Error())
	}
}

func TestContext(t *testing.T) {
	_, err := tenancy.FromContext(context.Background())
	assert.ErrorIs(t, err, tenancy.ErrNoTenant)
	assert.Empty(t, tenancy.IDFromContext(context.Background()))
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t1"})
	got, err := tenancy.FromContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, "t1", got.ID)
	assert.Equal(t, "t1", tenancy.IDFromContext(ctx))
	_, ok := tenancy.PrincipalFromContext(ctx)
	assert.False(t, ok)
	assert.False(t, tenancy.Authenticated(ctx))
	p := &tenancy.Principal{Tenant: got, Subject: "key:k1"}
	got2, ok := tenancy.PrincipalFromContext(tenancy.WithPrincipal(ctx, p))
	assert.True(t, ok)
	assert.Same(t, p, got2)
}

func serve(h http.Handler, host, path string, header map[string]string) int {
	req := httptest.NewRequest("GET", "http://x"+path, nil)
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestHostCachesFollowChanges(t *testing.T) {
	f, h := resolutionFixture(t)
	ctx := context.Background()
	require.Equal(t, 200, serve(h, "acme.example.com", "/", nil))
	require.Equal(t, 200, serve(h, "app.acme.com", "/", nil))

	_, err := f.reg.SetStatus(ctx, "t-acme", tenancy.StatusSuspended)
	require.NoError(t, err)
	assert.Equal(t, 403, serve(h, "acme.example.com", "/", nil), "subdomain host cache is stale")
	assert.Equal(t, 403, serve(h, "app.acme.com", "/", nil), "custom domain host cache is stale")

	_, err = f.reg.Update(ctx, "t-acme", func(t *tenancy.Tenant) error {
		t.Status, t.Slug, t.Domains = tenancy.StatusActive, "acme2", nil
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 404, serve(h, "acme.example.com", "/", nil))
	assert.Equal(t, 400, serve(h, "app.acme.com", "/", nil), "removed custom domain still resolves")
	assert.Equal(t, 200, serve(h, "acme2.example.com", "/", nil))
}
