package bench

// Tenant resolution from a request's subdomain, warm, side by side:
// saaskit, the peer go-saas (github.com/go-saas/saas v0.6.3) and the
// limit, a plain map lookup of the slug. Run with
//
//	go test -run '^$' -bench . -benchtime 1s -count 3 ./...
//
// and compare the ratios between sub-benchmarks of one run.
//
// Every side holds the same two tenants, acme and globex, and every
// benchmark answers the request http://acme.example.com/ with the full
// record of acme. Each benchmark checks once, before its loop, that acme
// came back, so no error path is measured.
//
// What each side does per iteration:
//
//   - map: m[host[:4]], a map from slug to *tenancy.Tenant. No parsing, no
//     validation, no context: the floor.
//   - saaskit: SubdomainResolver.Resolve(req). Warm, it answers from its
//     cache keyed by the raw Host header and returns the shared, read-only
//     *tenancy.Tenant. (Cold, it would parse and validate the host, match
//     the base domain and read the registry, which caches the store.)
//   - go-saas: DefaultTenantConfigProvider.Get(req.Context()), the go-saas
//     call that returns the tenant's record (TenantConfig). Its
//     DefaultTenantResolver runs, in order, the ContextContrib it always
//     installs (looks for a tenant already in the context), the shipped
//     http.DomainTenantResolveContrib with the format
//     `^([a-z0-9-]+)\.example\.com$` (it compiles that regexp on every call
//     and takes submatch 1, "acme"), and the shipped TenantNormalizerContrib,
//     which reads the tenant from the store, MemoryTenantStore, and puts it
//     into the context; the provider then reads it back from the context.
//     go-saas has no cache for tenants: its memory store, a slice scanned
//     in order, is the fastest store it ships, and acme is first in it, its
//     best case. Its contribs hold the request, so a server builds them per
//     request (its middleware does); here they are built once, bound to the
//     one request every iteration reuses, which spares go-saas that work.
//
// The middleware benchmarks serve the same request into an empty handler:
//
//   - saaskit: tenancy.Middleware with the subdomain resolver: Resolve as
//     above, a status check, context.WithValue and Request.WithContext.
//   - go-saas: http.Middleware (github.com/go-saas/saas/http), configured
//     through WebMultiTenancyOption with the same domain format, as its
//     documentation shows. Per request it builds its cookie, form, header,
//     query and domain contribs and its TenantNormalizerContrib, a
//     DefaultTenantResolver and a DefaultTenantConfigProvider, resolves as
//     above (cookie, form, header and query find nothing first), then puts
//     the current tenant and its data filter into the context and calls
//     Request.WithContext.
//
// go-saas's form contrib calls Request.FormValue, which parses the form
// once and keeps it in the request. A server hands each request a fresh
// *http.Request, so both middleware loops reset req.Form and req.PostForm
// to nil before each call (saaskit never reads them).

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-saas/saas"
	shttp "github.com/go-saas/saas/http"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

const (
	benchURL     = "http://acme.example.com/"
	benchBase    = "example.com"
	goSaaSFormat = `^([a-z0-9-]+)\.example\.com$`
)

var (
	sinkTenant *tenancy.Tenant
	sinkConfig saas.TenantConfig
)

// saaskitRegistry returns a registry over memstore holding acme and globex.
func saaskitRegistry(b *testing.B) *tenancy.Registry {
	b.Helper()
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	b.Cleanup(func() { _ = reg.Close() })
	for _, t := range []*tenancy.Tenant{
		{ID: "t-acme", Slug: "acme", Name: "Acme"},
		{ID: "t-globex", Slug: "globex", Name: "Globex"},
	} {
		if _, err := reg.Create(context.Background(), t); err != nil {
			b.Fatal(err)
		}
	}
	return reg
}

func saaskitSubdomain(b *testing.B) *tenancy.SubdomainResolver {
	b.Helper()
	sub, err := tenancy.Subdomain(saaskitRegistry(b), []string{benchBase})
	if err != nil {
		b.Fatal(err)
	}
	return sub
}

// goSaaSStore returns go-saas's memory store holding acme and globex. The
// slug is go-saas's tenant name, the key GetByNameOrId matches besides the
// ID.
func goSaaSStore() saas.TenantStore {
	return saas.NewMemoryTenantStore([]saas.TenantConfig{
		{ID: "t-acme", Name: "acme"},
		{ID: "t-globex", Name: "globex"},
	})
}

func BenchmarkResolveSubdomain(b *testing.B) {
	b.Run("map", func(b *testing.B) {
		m := map[string]*tenancy.Tenant{
			"acme":   {ID: "t-acme", Slug: "acme", Name: "Acme"},
			"globex": {ID: "t-globex", Slug: "globex", Name: "Globex"},
		}
		host := httptest.NewRequest("GET", benchURL, nil).Host
		if t := m[host[:4]]; t == nil || t.ID != "t-acme" {
			b.Fatalf("map: got %+v, want t-acme", t)
		}
		b.ReportAllocs()
		for b.Loop() {
			sinkTenant = m[host[:4]]
		}
	})

	b.Run("saaskit", func(b *testing.B) {
		sub := saaskitSubdomain(b)
		req := httptest.NewRequest("GET", benchURL, nil)
		// The first call fills the cache: the loop measures warm lookups.
		if tn, err := sub.Resolve(req); err != nil || tn == nil || tn.ID != "t-acme" {
			b.Fatalf("saaskit: got %+v, %v; want t-acme", tn, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			sinkTenant, _ = sub.Resolve(req)
		}
	})

	b.Run("go-saas", func(b *testing.B) {
		ts := goSaaSStore()
		req := httptest.NewRequest("GET", benchURL, nil)
		resolver := saas.NewDefaultTenantResolver(saas.AppendContribs(
			shttp.NewDomainTenantResolveContrib(goSaaSFormat, req),
			saas.NewTenantNormalizerContrib(ts),
		))
		provider := saas.NewDefaultTenantConfigProvider(resolver, ts)
		if cfg, _, err := provider.Get(req.Context()); err != nil || cfg.ID != "t-acme" || cfg.Name != "acme" {
			b.Fatalf("go-saas: got %+v, %v; want t-acme", cfg, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			cfg, _, _ := provider.Get(req.Context())
			sinkConfig = cfg
		}
	})
}

func BenchmarkMiddleware(b *testing.B) {
	empty := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

	// run checks once that mw puts acme into the context (read by id),
	// then serves the same request through mw into an empty handler.
	run := func(b *testing.B, mw func(http.Handler) http.Handler, id func(context.Context) string) {
		b.Helper()
		req := httptest.NewRequest("GET", benchURL, nil)
		var got string
		w := httptest.NewRecorder()
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = id(r.Context()) })).ServeHTTP(w, req)
		if w.Code != http.StatusOK || got != "t-acme" {
			b.Fatalf("status %d, tenant %q; want 200, t-acme: %s", w.Code, got, w.Body)
		}
		h := mw(empty)
		w = httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			req.Form, req.PostForm = nil, nil // as in a fresh request
			h.ServeHTTP(w, req)
		}
	}

	b.Run("saaskit", func(b *testing.B) {
		mw := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{saaskitSubdomain(b)}})
		run(b, mw, tenancy.IDFromContext)
	})

	b.Run("go-saas", func(b *testing.B) {
		mw := shttp.Middleware(goSaaSStore(),
			shttp.WithMultiTenancyOption(shttp.NewWebMultiTenancyOption("", goSaaSFormat)))
		run(b, mw, func(ctx context.Context) string {
			info, _ := saas.FromCurrentTenant(ctx)
			return info.GetId()
		})
	})
}
