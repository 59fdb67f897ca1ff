package tenancy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// The warm-cache resolution benchmarks and their limit, a plain map
// lookup of the same key, run side by side: compare their ratio.

var sinkTenant *tenancy.Tenant

func benchRegistry(b *testing.B) *tenancy.Registry {
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	b.Cleanup(func() { _ = reg.Close() })
	if _, err := reg.Create(context.Background(), &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"}); err != nil {
		b.Fatal(err)
	}
	return reg
}

// BenchmarkMapLookup is the limit: a map from slug to tenant.
func BenchmarkMapLookup(b *testing.B) {
	m := map[string]*tenancy.Tenant{"acme": {ID: "t-acme", Slug: "acme"}, "globex": {ID: "t-globex", Slug: "globex"}}
	host := "acme.example.com"
	key := host[:4]
	b.ReportAllocs()
	for b.Loop() {
		sinkTenant = m[key]
	}
}

func BenchmarkResolveSubdomain(b *testing.B) {
	reg := benchRegistry(b)
	sub, err := tenancy.Subdomain(reg, []string{"example.com"})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://acme.example.com/", nil)
	if tn, err := sub.Resolve(req); err != nil || tn == nil {
		b.Fatal("warm-up failed", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkTenant, _ = sub.Resolve(req)
	}
}

func BenchmarkResolveSubdomainParallel(b *testing.B) {
	reg := benchRegistry(b)
	sub, _ := tenancy.Subdomain(reg, []string{"example.com"})
	req := httptest.NewRequest("GET", "http://acme.example.com/", nil)
	_, _ = sub.Resolve(req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tn, _ := sub.Resolve(req); tn == nil {
				b.Error("no tenant")
			}
		}
	})
}

// BenchmarkMiddleware is a whole request through resolution into a
// handler: context.WithValue and Request.WithContext account for its
// allocations.
func BenchmarkMiddleware(b *testing.B) {
	reg := benchRegistry(b)
	sub, _ := tenancy.Subdomain(reg, []string{"example.com"})
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}, Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "http://acme.example.com/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

func BenchmarkAuthenticateAPIKey(b *testing.B) {
	reg := benchRegistry(b)
	tok, _, err := reg.CreateKey(context.Background(), "t-acme", tenancy.KeyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := reg.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareAPIKey is a request that presents an API key and
// names its tenant by host: authentication (BenchmarkAuthenticateAPIKey's
// work), identification, the agreement check and the principal in the
// context.
func BenchmarkMiddlewareAPIKey(b *testing.B) {
	reg := benchRegistry(b)
	tok, _, err := reg.CreateKey(context.Background(), "t-acme", tenancy.KeyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sub, _ := tenancy.Subdomain(reg, []string{"example.com"})
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}, Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "http://acme.example.com/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

var sinkID string

// BenchmarkVerifiedDomain is the on-demand TLS question "may we get a
// certificate for this name" for a host seen before; compare it with
// BenchmarkMapLookup.
func BenchmarkVerifiedDomain(b *testing.B) {
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	b.Cleanup(func() { _ = reg.Close() })
	ctx := context.Background()
	if _, err := reg.Create(ctx, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme", Domains: []string{"app.acme.com"}}); err != nil {
		b.Fatal(err)
	}
	if id, err := reg.VerifiedDomain(ctx, "app.acme.com"); err != nil || id != "t-acme" {
		b.Fatal("warm-up failed", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkID, _ = reg.VerifiedDomain(ctx, "app.acme.com")
	}
}
