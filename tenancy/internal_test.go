package tenancy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func TestWrongSecretWithKnownKeyID(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	ctx := context.Background()
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	tok, _, err := f.reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{})
	require.NoError(t, err)
	prefix, id, secret, err := tenancy.TokenParts(tok)
	require.NoError(t, err)

	body := prefix + id + tenancy.RandomBase62(tenancy.KeySecretLen)
	_, _, err = f.reg.Authenticate(ctx, body+tenancy.Checksum(body))
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated)
	// The same ID and secret under another prefix is refused too.
	body = "sk_test_" + id + secret
	_, _, err = f.reg.Authenticate(ctx, body+tenancy.Checksum(body))
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated)
}

func TestRandomBase62(t *testing.T) {
	seen := map[rune]bool{}
	for range 200 {
		s := tenancy.RandomBase62(tenancy.KeySecretLen)
		require.Regexp(t, `^[0-9A-Za-z]{32}$`, s)
		for _, c := range s {
			seen[c] = true
		}
	}
	assert.Len(t, seen, 62, "some characters never appear")
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{
		"acme.example.com": "acme.example.com", "ACME.example.com:443": "acme.example.com",
		"acme.localhost.": "acme.localhost", "[::1]:8080": "", "": "",
	} {
		got, err := tenancy.Hostname(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"a b", "a:", "a:123456", "a:-1", "exa\x00mple.com", strings.Repeat("a", tenancy.MaxHostLen+1), "ex_ample.com"} {
		_, err := tenancy.Hostname(in)
		assert.ErrorIs(t, err, tenancy.ErrMalformed, "%q", in)
	}
}

// FuzzParseToken: no input panics, and what parses re-assembles to the
// input with a matching checksum.
func FuzzParseToken(f *testing.F) {
	body := "sk_live_" + strings.Repeat("a", tenancy.KeyBodyLen-6)
	f.Add(body + tenancy.Checksum(body))
	f.Add("sk_test_")
	f.Add("")
	f.Add(strings.Repeat("_", 70))
	f.Fuzz(func(t *testing.T, s string) {
		prefix, id, secret, err := tenancy.TokenParts(s)
		if err != nil {
			assert.ErrorIs(t, err, tenancy.ErrMalformed)
			return
		}
		full := prefix + id + secret
		assert.Equal(t, s, full+tenancy.Checksum(full))
	})
}

// FuzzHostname: no input panics; what parses is a lower-case host name
// without port.
func FuzzHostname(f *testing.F) {
	for _, s := range []string{"acme.example.com", "ACME.localhost:8080", "[::1]:1", "a:", "x..y."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := tenancy.Hostname(s)
		if err != nil {
			assert.ErrorIs(t, err, tenancy.ErrMalformed)
			return
		}
		assert.Equal(t, strings.ToLower(h), h)
		assert.NotContains(t, h, ":")
	})
}

// FuzzMiddleware: any host, tenant header, path or API key gives success
// or a client error, never a panic or a 500.
func FuzzMiddleware(f *testing.F) {
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	f.Cleanup(func() { _ = reg.Close() })
	_, err := reg.Create(context.Background(), &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme", Domains: []string{"app.acme.com"}})
	require.NoError(f, err)
	sub, _ := tenancy.Subdomain(reg, []string{"example.com", "localhost"}, "www")
	hdr, _ := tenancy.Header(reg, "", tenancy.ByID)
	path, _ := tenancy.PathPrefix(reg, "", tenancy.BySlug)
	h := tenancy.Middleware(tenancy.MiddlewareOptions{
		Identify:     []tenancy.Resolver{tenancy.CustomDomain(reg), sub, hdr, path},
		Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	f.Add("acme.example.com", "", "/", "")
	f.Add("app.acme.com:8443", "acme", "/t/acme/x", "Bearer sk_live_x")
	f.Add("[::1]:80", "a b", "/t//", "sk_live_"+strings.Repeat("Z", tenancy.KeyBodyLen))
	f.Add(strings.Repeat("a.", 200), strings.Repeat("x", 300), "/t/"+strings.Repeat("a", 100), "\x00")
	f.Fuzz(func(t *testing.T, host, tenantHeader, path, apiKey string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		req.URL.Path = path
		req.Header["X-Tenant-Id"] = []string{tenantHeader}
		req.Header["X-Api-Key"] = []string{apiKey}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401, 403, 404:
		default:
			t.Fatalf("status %d for host %q header %q path %q key %q", rec.Code, host, tenantHeader, path, apiKey)
		}
	})
}
