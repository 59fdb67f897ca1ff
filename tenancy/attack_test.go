package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// permutations returns every order of xs.
func permutations[T any](xs []T) [][]T {
	if len(xs) <= 1 {
		return [][]T{append([]T(nil), xs...)}
	}
	var out [][]T
	for i := range xs {
		rest := append(append([]T(nil), xs[:i]...), xs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]T{xs[i]}, p...))
		}
	}
	return out
}

// TestCredentialAlwaysDecides attacks the resolution middleware as a
// stranger would, under every order of its resolvers and of its
// authenticators: acme's credentials with each of globex's identifiers,
// a bogus key, a revoked key, and the controls. No case may serve globex
// with acme's credential, nor anyone with a bad credential.
func TestCredentialAlwaysDecides(t *testing.T) {
	f := newFixture(t, tenancy.Options{PlatformDomains: []string{"example.com"}})
	f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"})
	f.create(t, &tenancy.Tenant{ID: "t-globex", Slug: "globex", Name: "Globex", Domains: []string{"portal.globex.com"}})
	ctx := context.Background()
	acmeKey, _, err := f.reg.CreateKey(ctx, "t-acme", tenancy.KeyOptions{Name: "acme"})
	require.NoError(t, err)
	globexKey, _, err := f.reg.CreateKey(ctx, "t-globex", tenancy.KeyOptions{Name: "globex"})
	require.NoError(t, err)
	revoked, revokedKey, err := f.reg.CreateKey(ctx, "t-globex", tenancy.KeyOptions{Name: "revoked"})
	require.NoError(t, err)
	require.NoError(t, f.reg.RevokeKey(ctx, "t-globex", revokedKey.ID))

	sub, err := tenancy.Subdomain(f.reg, []string{"example.com"})
	require.NoError(t, err)
	header, err := tenancy.Header(f.reg, "", tenancy.BySlug)
	require.NoError(t, err)
	path, err := tenancy.PathPrefix(f.reg, "", tenancy.BySlug)
	require.NoError(t, err)
	claims, err := tenancy.Claims(f.reg, tenancy.BySlug, func(ctx context.Context) (tenancy.Claim, bool) {
		c, ok := ctx.Value(claimsKey{}).(tenancy.Claim)
		return c, ok
	})
	require.NoError(t, err)
	identify := []tenancy.Resolver{sub, tenancy.CustomDomain(f.reg), header, path}
	authenticate := []tenancy.Authenticator{tenancy.APIKeyAuth(f.reg), claims}

	type request struct {
		name   string
		host   string
		path   string
		header []string // name, value, ...
		claim  *tenancy.Claim
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	acmeClaim := &tenancy.Claim{Tenant: "acme", Subject: "ada@acme"}
	attacks := []struct {
		request
		status int
	}{
		{request{"acme key, globex host", "globex.example.com", "/", bearer(acmeKey), nil}, 403},
		{request{"acme key in X-API-Key, globex host", "globex.example.com", "/", []string{"X-API-Key", acmeKey}, nil}, 403},
		{request{"acme key, globex custom domain", "portal.globex.com", "/", bearer(acmeKey), nil}, 403},
		{request{"acme key, globex header", "example.com", "/", []string{"X-API-Key", acmeKey, "X-Tenant-ID", "globex"}, nil}, 403},
		{request{"acme key, globex path", "example.com", "/t/globex/users", bearer(acmeKey), nil}, 403},
		{request{"acme claims, globex host", "globex.example.com", "/", nil, acmeClaim}, 403},
		{request{"bogus key, globex host", "globex.example.com", "/", bearer("sk_live_bogus"), nil}, 401},
		{request{"forged key, globex host", "globex.example.com", "/", bearer(forgeToken(t, "sk_live_")), nil}, 401},
		{request{"revoked globex key, globex host", "globex.example.com", "/", bearer(revoked), nil}, 401},
	}
	do := func(h http.Handler, rq request) (int, string) {
		req := httptest.NewRequest("GET", "http://x"+rq.path, nil)
		req.Host = rq.host
		for i := 0; i+1 < len(rq.header); i += 2 {
			req.Header.Set(rq.header[i], rq.header[i+1])
		}
		if rq.claim != nil {
			req = req.WithContext(context.WithValue(req.Context(), claimsKey{}, *rq.claim))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, ids := range permutations(identify) {
		for _, auths := range permutations(authenticate) {
			h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: ids, Authenticate: auths})(whoServed())
			order := fmt.Sprintf("%T then %T", ids[0], auths[0])
			for _, a := range attacks {
				status, body := do(h, a.request)
				assert.Equal(t, a.status, status, "%s (%s): %s", a.name, order, body)
				assert.NotContains(t, body, "served", "%s (%s)", a.name, order)
			}
			// Controls: each tenant's own credential with its own
			// identifiers is served, authenticated; a name alone is
			// served unauthenticated.
			status, body := do(h, request{"globex key, globex host", "globex.example.com", "/", bearer(globexKey), nil})
			assert.Equal(t, 200, status, order)
			assert.Equal(t, "served globex as key:", body[:len("served globex as key:")], order)
			status, body = do(h, request{"acme key alone", "example.com", "/", bearer(acmeKey), nil})
			assert.Equal(t, 200, status, order)
			assert.Contains(t, body, "served acme as key:", order)
			status, body = do(h, request{"globex host alone", "globex.example.com", "/", nil, nil})
			assert.Equal(t, 200, status, order)
			assert.Equal(t, "served globex unauthenticated", body, order)
			status, body = do(h, request{"acme claims alone", "example.com", "/", nil, acmeClaim})
			assert.Equal(t, 200, status, order)
			assert.Equal(t, "served acme as ada@acme", body, order)
		}
	}
}

// whoServed answers which tenant was served and as whom.
func whoServed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, err := tenancy.FromContext(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if p, ok := tenancy.PrincipalFromContext(r.Context()); ok {
			fmt.Fprintf(w, "served %s as %s", tn.Slug, p.Subject)
			return
		}
		fmt.Fprintf(w, "served %s unauthenticated", tn.Slug)
	})
}

// TestMismatchNamesSourcesNotTheKeysTenant: the 403 says which
// identifier disagreed, never whose the key is.
func TestMismatchNamesSourcesNotTheKeysTenant(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"})
	f.create(t, &tenancy.Tenant{ID: "t-globex", Slug: "globex", Name: "Globex"})
	tok, _, err := f.reg.CreateKey(context.Background(), "t-acme", tenancy.KeyOptions{})
	require.NoError(t, err)
	sub, err := tenancy.Subdomain(f.reg, []string{"example.com"})
	require.NoError(t, err)
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}, Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(f.reg)}})(whoServed())
	req := httptest.NewRequest("GET", "http://globex.example.com/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, 403, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), "host")
	assert.NotContains(t, rec.Body.String(), "acme")
}

// TestRequireAuth: routes behind it need a credential, and its scopes.
func TestRequireAuth(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"})
	ctx := context.Background()
	reader, _, err := f.reg.CreateKey(ctx, "t-acme", tenancy.KeyOptions{Scopes: []string{"users:read"}})
	require.NoError(t, err)
	sub, err := tenancy.Subdomain(f.reg, []string{"example.com"})
	require.NoError(t, err)
	mw := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}, Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(f.reg)}})
	read := mw(tenancy.RequireAuth("users:read")(whoServed()))
	write := mw(tenancy.RequireAuth("users:write")(whoServed()))
	call := func(h http.Handler, tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "http://acme.example.com/", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := call(read, "")
	assert.Equal(t, 401, rec.Code)
	assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
	assert.Equal(t, 200, call(read, reader).Code)
	rec = call(write, reader)
	assert.Equal(t, 403, rec.Code)
	assert.Contains(t, rec.Body.String(), "users:write")
}

// TestKeysMintOnlyWithinTheirScopes: a key minting a key through its
// request's context gets at most its own scopes, for its own tenant.
func TestKeysMintOnlyWithinTheirScopes(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	acme := f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"})
	f.create(t, &tenancy.Tenant{ID: "t-globex", Slug: "globex", Name: "Globex"})
	ctx := context.Background()
	_, minter, err := f.reg.CreateKey(ctx, "t-acme", tenancy.KeyOptions{Scopes: []string{"keys:write", "users:read"}})
	require.NoError(t, err)
	asKey := tenancy.WithPrincipal(ctx, &tenancy.Principal{Tenant: acme, Key: minter, Subject: "key:" + minter.ID, Scopes: minter.Scopes})

	_, k, err := f.reg.CreateKey(asKey, "t-acme", tenancy.KeyOptions{Scopes: []string{"users:read"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"users:read"}, k.Scopes)
	_, _, err = f.reg.CreateKey(asKey, "t-acme", tenancy.KeyOptions{Scopes: []string{"users:read", "admin"}})
	assert.ErrorIs(t, err, tenancy.ErrForbidden, "a key minted a scope it lacks")
	_, _, err = f.reg.CreateKey(asKey, "t-globex", tenancy.KeyOptions{})
	assert.ErrorIs(t, err, tenancy.ErrForbidden, "a key minted a key for another tenant")
	_, _, err = f.reg.CreateKey(ctx, "t-globex", tenancy.KeyOptions{Scopes: []string{"admin"}})
	assert.NoError(t, err, "the operator, with no principal, mints any key")
}
