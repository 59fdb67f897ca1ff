package tenancy_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func TestPlatformDomainsCannotBeClaimed(t *testing.T) {
	f := newFixture(t, tenancy.Options{PlatformDomains: []string{"example.com"}})
	ctx := context.Background()
	for _, d := range []string{"example.com", "acme.example.com", "www.example.com"} {
		_, err := f.reg.Create(ctx, &tenancy.Tenant{Slug: "evil", Name: "Evil", Domains: []string{d}})
		assert.ErrorIs(t, err, tenancy.ErrInvalid, d)
	}
	f.create(t, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme"})
	f.create(t, &tenancy.Tenant{ID: "t-evil", Slug: "evil", Name: "Evil", Domains: []string{"evil.example.org"}})
	_, err := f.reg.Update(ctx, "t-evil", func(t *tenancy.Tenant) error { t.Domains = []string{"acme.example.com"}; return nil })
	assert.ErrorIs(t, err, tenancy.ErrInvalid)

	sub, err := tenancy.Subdomain(f.reg, []string{"example.com"})
	require.NoError(t, err)
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{tenancy.CustomDomain(f.reg), sub}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tn, _ := tenancy.FromContext(r.Context())
			_, _ = w.Write([]byte(tn.ID))
		}))
	assert.Equal(t, 200, serve(h, "acme.example.com", "/", nil))
}

// Two registries over one store stand for two processes.
func TestRevocationReachesOtherProcessesWithinTheTTL(t *testing.T) {
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memstore.New()
	opts := tenancy.Options{CacheTTL: 5 * time.Minute, KeyTouchInterval: time.Minute, Now: clock.Now}
	admin, api := tenancy.NewRegistry(st, st, opts), tenancy.NewRegistry(st, st, opts)
	defer admin.Close()
	defer api.Close()
	ctx := context.Background()
	tn, err := admin.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	tok, key, err := admin.CreateKey(ctx, tn.ID, tenancy.KeyOptions{})
	require.NoError(t, err)
	_, _, err = api.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.NoError(t, admin.RevokeKey(ctx, tn.ID, key.ID))

	refused := false
	for range 7 { // a request a minute, each one due a LastUsedAt write
		clock.Advance(time.Minute)
		_, _, err = api.Authenticate(ctx, tok)
		if errors.Is(err, tenancy.ErrUnauthenticated) {
			refused = true
			break
		}
	}
	assert.True(t, refused, "a revoked key stayed usable beyond the cache TTL")
}

// blockingStore pauses one Lookup after reading, until released.
type blockingStore struct {
	*memstore.Store
	armed    chan struct{}
	entered  chan struct{}
	released chan struct{}
}

func (b *blockingStore) Lookup(ctx context.Context, by tenancy.Field, v string) (*tenancy.Tenant, error) {
	t, err := b.Store.Lookup(ctx, by, v)
	select {
	case <-b.armed:
		close(b.entered)
		<-b.released
	default:
	}
	return t, err
}

func TestALookupRacingAChangeDoesNotCacheTheOldValue(t *testing.T) {
	st := &blockingStore{Store: memstore.New(), armed: make(chan struct{}), entered: make(chan struct{}), released: make(chan struct{})}
	reg := tenancy.NewRegistry(st, st, tenancy.Options{CacheTTL: time.Hour})
	defer reg.Close()
	ctx := context.Background()
	_, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)

	close(st.armed)
	done := make(chan struct{})
	go func() { defer close(done); _, _ = reg.Lookup(ctx, tenancy.BySlug, "acme") }()
	<-st.entered
	st.armed = make(chan struct{}) // disarm for SetStatus's own lookups
	_, err = reg.SetStatus(ctx, "t1", tenancy.StatusSuspended)
	require.NoError(t, err)
	close(st.released)
	<-done
	got, err := reg.Lookup(ctx, tenancy.BySlug, "acme")
	require.NoError(t, err)
	assert.Equal(t, tenancy.StatusSuspended, got.Status, "a stale lookup was cached after the change")
}

func TestHostCacheDoesNotOutliveItsSource(t *testing.T) {
	f := newFixture(t, tenancy.Options{CacheTTL: 30 * time.Second})
	ctx := context.Background()
	f.create(t, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"})
	sub, err := tenancy.Subdomain(f.reg, []string{"example.com"})
	require.NoError(t, err)
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	_, err = f.reg.Lookup(ctx, tenancy.BySlug, "acme") // cached at t=0
	require.NoError(t, err)
	cur, _ := f.store.Store.Lookup(ctx, tenancy.ByID, "t1")
	cur.Status = tenancy.StatusSuspended
	require.NoError(t, f.store.Store.Update(ctx, cur)) // another process suspends it
	f.clock.Advance(29 * time.Second)
	assert.Equal(t, 200, serve(h, "acme.example.com", "/", nil), "within the TTL the cached tenant is served")
	f.clock.Advance(2 * time.Second)
	assert.Equal(t, 403, serve(h, "acme.example.com", "/", nil), "the host cache outlived the slug entry it came from")
}

func TestBrandingCannotCarryCSSOrHTML(t *testing.T) {
	for name, change := range map[string]func(b *tenancy.Branding){
		"logo breaks out": func(b *tenancy.Branding) {
			b.LogoURL = `https://cdn.example.com/l.png");}</style><script>alert(1)</script>`
		},
		"logo with quote":    func(b *tenancy.Branding) { b.LogoURL = `https://cdn.example.com/a'b.png` },
		"font comment":       func(b *tenancy.Branding) { b.Font = "x/*" },
		"font url":           func(b *tenancy.Branding) { b.Font = "url(https://evil.example/f)" },
		"css var url":        func(b *tenancy.Branding) { b.CSSVars = map[string]string{"--bg": "url(https://evil.example/x)"} },
		"css var comment":    func(b *tenancy.Branding) { b.CSSVars = map[string]string{"--bg": "red /* x"} },
		"name bidi override": func(b *tenancy.Branding) { b.Name = "Acme\u202eemcA" },
	} {
		tn := validTenant()
		change(&tn.Branding)
		assert.ErrorIs(t, tenancy.Validate(tn, nil), tenancy.ErrInvalid, name)
	}
	tn := validTenant()
	tn.Branding.Font = `"Inter", 'Helvetica Neue', sans-serif`
	tn.Branding.CSSVars = map[string]string{"--radius": "4px", "--shadow": "0 1px 2px #0003"}
	assert.NoError(t, tenancy.Validate(tn, nil))
}

func TestClosedRegistryStillExpiresEntries(t *testing.T) {
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{CacheTTL: 20 * time.Millisecond})
	ctx := context.Background()
	tn, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	_, err = reg.Lookup(ctx, tenancy.BySlug, "acme")
	require.NoError(t, err)
	require.NoError(t, reg.Close())
	require.NoError(t, st.Delete(ctx, tn.ID))
	await.True(t, func() bool {
		_, err := reg.Lookup(ctx, tenancy.BySlug, "acme")
		return errors.Is(err, tenancy.ErrNotFound)
	})
}
