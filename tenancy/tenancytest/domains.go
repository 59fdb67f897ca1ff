package tenancytest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// DomainAdapter is a store of tenants, API keys and domain claims.
type DomainAdapter interface {
	Adapter
	tenancy.DomainStore
}

// RunDomainStoreTests runs the domain suite: the DomainStore contract,
// and the whole verification lifecycle through a Registry over the
// adapter, with a fake DNS resolver and clock. newAdapter must return an
// empty store each time it is called.
func RunDomainStoreTests(t *testing.T, newAdapter func(t *testing.T) DomainAdapter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s DomainAdapter)
	}{
		{"ClaimsArePerTenant", testDomainClaims},
		{"OneServingClaimPerDomain", testOneServingClaim},
		{"UpdateDomainIsVersioned", testUpdateDomainVersioned},
		{"ConcurrentVerifyOneWins", testConcurrentVerify},
		{"DomainChangesAndUpdatesInterleave", testDomainChangesInterleave},
		{"DueDomains", testDueDomains},
		{"OperatorDomainsAreVerified", testOperatorDomains},
		{"Lifecycle", testLifecycle},
		{"SquattingFails", testSquatting},
		{"TakeoverAfterGrace", testTakeover},
		{"ReplicasCheckEachDomainOnce", testReplicas},
		{"RequireVerification", testRequireVerification},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newAdapter(t)) })
	}
}

func claim(tenantID, name string) *tenancy.Domain {
	return &tenancy.Domain{TenantID: tenantID, Name: name, State: tenancy.DomainPending, Token: "tok-" + tenantID, CreatedAt: t0, NextCheckAt: t0}
}

func testDomainClaims(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	mustCreate(t, s, Tenant("globex"))
	d := claim("id-acme", "shop.example.org")
	require.NoError(t, s.AddDomain(ctx, d))
	assert.Equal(t, int64(1), d.Version)
	assert.ErrorIs(t, s.AddDomain(ctx, claim("id-acme", "shop.example.org")), tenancy.ErrConflict, "a tenant claims a name once")
	assert.ErrorIs(t, s.AddDomain(ctx, claim("id-nobody", "x.example.org")), tenancy.ErrNotFound)
	require.NoError(t, s.AddDomain(ctx, claim("id-globex", "shop.example.org")), "two tenants may have a name pending")
	require.NoError(t, s.AddDomain(ctx, claim("id-acme", "b.example.org")))

	list, err := s.ListDomains(ctx, "id-acme", "")
	require.NoError(t, err)
	require.Len(t, list, 4, "the two of Tenant.Domains, then the two added")
	assert.Equal(t, "shop.example.org", list[2].Name)
	assert.Equal(t, "b.example.org", list[3].Name)
	got := list[2]
	assert.Equal(t, tenancy.DomainPending, got.State)
	assert.Equal(t, "tok-id-acme", got.Token)
	assert.True(t, t0.Equal(got.CreatedAt) && t0.Equal(got.NextCheckAt), "times round-trip: %v %v", got.CreatedAt, got.NextCheckAt)

	one, err := s.ListDomains(ctx, "id-globex", "shop.example.org")
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, "id-globex", one[0].TenantID)
	_, err = s.ListDomains(ctx, "id-globex", "b.example.org")
	assert.ErrorIs(t, err, tenancy.ErrNotFound, "another tenant's claim is not found")

	_, err = s.Lookup(ctx, tenancy.ByDomain, "shop.example.org")
	assert.ErrorIs(t, err, tenancy.ErrNotFound, "a pending domain serves nobody")
	tn, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	assert.Equal(t, []string{"app.acme.example", "acme.example"}, tn.Domains, "pending domains are not in Tenant.Domains")

	require.NoError(t, s.RemoveDomain(ctx, "id-acme", "shop.example.org"))
	assert.ErrorIs(t, s.RemoveDomain(ctx, "id-acme", "shop.example.org"), tenancy.ErrNotFound)
	assert.ErrorIs(t, s.RemoveDomain(ctx, "id-acme", "b.example.org\x00"), tenancy.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "id-globex"))
	list, err = s.ListDomains(ctx, "id-globex", "")
	require.NoError(t, err)
	assert.Empty(t, list, "deleting a tenant deletes its claims")
	require.NoError(t, s.Create(ctx, Tenant("globex")))
	list, err = s.ListDomains(ctx, "id-globex", "")
	require.NoError(t, err)
	assert.Len(t, list, 2, "a tenant created again with the ID inherits nothing")
}

// verify turns the tenant's claim to verified in the store.
func verify(t *testing.T, s DomainAdapter, tenantID, name string) error {
	t.Helper()
	list, err := s.ListDomains(context.Background(), tenantID, name)
	require.NoError(t, err)
	d := list[0]
	d.State, d.VerifiedAt = tenancy.DomainVerified, t0
	return s.UpdateDomain(context.Background(), d)
}

func testOneServingClaim(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	mustCreate(t, s, Tenant("globex"))
	require.NoError(t, s.AddDomain(ctx, claim("id-acme", "shop.example.org")))
	require.NoError(t, s.AddDomain(ctx, claim("id-globex", "shop.example.org")))
	before, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)

	require.NoError(t, verify(t, s, "id-acme", "shop.example.org"))
	assert.ErrorIs(t, verify(t, s, "id-globex", "shop.example.org"), tenancy.ErrConflict, "only one tenant may have a domain verified")
	assert.ErrorIs(t, s.AddDomain(ctx, &tenancy.Domain{TenantID: "id-globex", Name: "shop.example.org", State: tenancy.DomainVerified, Token: "x", CreatedAt: t0}), tenancy.ErrConflict)

	got, err := s.Lookup(ctx, tenancy.ByDomain, "shop.example.org")
	require.NoError(t, err)
	assert.Equal(t, "id-acme", got.ID)
	assert.Contains(t, got.Domains, "shop.example.org")
	assert.Greater(t, got.Version, before.Version, "a change in serving domains moves the tenant's version")

	// An update made from the tenant read before the change retries.
	stale := before.Clone()
	assert.ErrorIs(t, s.Update(ctx, stale), tenancy.ErrConflict)

	// Failing still serves; revoked frees the name for the other tenant.
	list, err := s.ListDomains(ctx, "id-acme", "shop.example.org")
	require.NoError(t, err)
	d := list[0]
	d.State, d.FailingSince, d.Reason = tenancy.DomainFailing, t0, "gone"
	require.NoError(t, s.UpdateDomain(ctx, d))
	assert.ErrorIs(t, verify(t, s, "id-globex", "shop.example.org"), tenancy.ErrConflict, "a failing claim still holds the name")
	d.State = tenancy.DomainRevoked
	require.NoError(t, s.UpdateDomain(ctx, d))
	got, err = s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	assert.NotContains(t, got.Domains, "shop.example.org")
	require.NoError(t, verify(t, s, "id-globex", "shop.example.org"))
	got, err = s.Lookup(ctx, tenancy.ByDomain, "shop.example.org")
	require.NoError(t, err)
	assert.Equal(t, "id-globex", got.ID)

	// Removing a serving claim frees the name too.
	require.NoError(t, s.RemoveDomain(ctx, "id-globex", "shop.example.org"))
	_, err = s.Lookup(ctx, tenancy.ByDomain, "shop.example.org")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
}

// Tenants racing to verify one domain: exactly one wins.
func testConcurrentVerify(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	const n = 6
	for i := range n {
		mustCreate(t, s, Tenant(fmt.Sprintf("t%d", i)))
		require.NoError(t, s.AddDomain(ctx, claim(fmt.Sprintf("id-t%d", i), "race.example.org")))
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			list, err := s.ListDomains(ctx, fmt.Sprintf("id-t%d", i), "race.example.org")
			if !assert.NoError(t, err) {
				return
			}
			d := list[0]
			d.State = tenancy.DomainVerified
			switch err := s.UpdateDomain(ctx, d); {
			case err == nil:
				wins.Add(1)
			default:
				assert.ErrorIs(t, err, tenancy.ErrConflict)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), wins.Load())
	got, err := s.Lookup(ctx, tenancy.ByDomain, "race.example.org")
	require.NoError(t, err)
	assert.Contains(t, got.Domains, "race.example.org")
}

// Tenant updates and domain changes of one tenant run at once without
// failing other than by conflict (no deadlock), and Tenant.Domains ends
// in agreement with the claims.
func testDomainChangesInterleave(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	require.NoError(t, s.AddDomain(ctx, claim("id-acme", "flip.example.org")))
	const rounds = 20
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range rounds {
			tn, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
			if !assert.NoError(t, err) {
				return
			}
			tn.Name = fmt.Sprintf("Acme %d", i)
			if err := s.Update(ctx, tn); err != nil {
				assert.ErrorIs(t, err, tenancy.ErrConflict)
			}
		}
	})
	wg.Go(func() {
		for i := range rounds {
			list, err := s.ListDomains(ctx, "id-acme", "flip.example.org")
			if !assert.NoError(t, err) {
				return
			}
			d := list[0]
			d.State = tenancy.DomainVerified
			if i%2 == 1 {
				d.State = tenancy.DomainRevoked
			}
			if err := s.UpdateDomain(ctx, d); err != nil {
				assert.ErrorIs(t, err, tenancy.ErrConflict)
			}
		}
	})
	wg.Wait()
	list, err := s.ListDomains(ctx, "id-acme", "flip.example.org")
	require.NoError(t, err)
	tn, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	assert.Equal(t, list[0].State.Serving(), slices.Contains(tn.Domains, "flip.example.org"), "state %s, domains %v", list[0].State, tn.Domains)
}

func testUpdateDomainVersioned(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	require.NoError(t, s.AddDomain(ctx, claim("id-acme", "shop.example.org")))
	list, err := s.ListDomains(ctx, "id-acme", "shop.example.org")
	require.NoError(t, err)
	a, b := list[0], list[0].Clone()
	a.Reason, a.CheckedAt = "first", t0.Add(time.Minute)
	require.NoError(t, s.UpdateDomain(ctx, a))
	assert.Equal(t, int64(2), a.Version)
	b.Reason = "second"
	assert.ErrorIs(t, s.UpdateDomain(ctx, b), tenancy.ErrConflict, "a stale version loses")
	missing := claim("id-acme", "none.example.org")
	assert.ErrorIs(t, s.UpdateDomain(ctx, missing), tenancy.ErrNotFound)

	list, err = s.ListDomains(ctx, "id-acme", "shop.example.org")
	require.NoError(t, err)
	assert.Equal(t, "first", list[0].Reason)
	assert.True(t, list[0].CheckedAt.Equal(t0.Add(time.Minute)))
	assert.Equal(t, "tok-id-acme", list[0].Token)
}

func testDueDomains(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	for i, at := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute, time.Hour} {
		d := claim("id-acme", fmt.Sprintf("d%d.example.org", i))
		d.NextCheckAt = t0.Add(at)
		require.NoError(t, s.AddDomain(ctx, d))
	}
	off := claim("id-acme", "off.example.org")
	off.NextCheckAt = time.Time{}
	require.NoError(t, s.AddDomain(ctx, off))

	due, err := s.DueDomains(ctx, t0.Add(3*time.Minute), 2)
	require.NoError(t, err)
	require.Len(t, due, 2)
	assert.Equal(t, "d1.example.org", due[0].Name, "earliest first")
	assert.Equal(t, "d2.example.org", due[1].Name)
	due, err = s.DueDomains(ctx, t0.Add(3*time.Minute), 100)
	require.NoError(t, err)
	assert.Len(t, due, 3, "not after now, and never the unscheduled")
}

func testOperatorDomains(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	tn := mustCreate(t, s, Tenant("acme"))
	list, err := s.ListDomains(ctx, "id-acme", "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	d := list[0]
	assert.Equal(t, "app.acme.example", d.Name)
	assert.Equal(t, tenancy.DomainVerified, d.State, "Tenant.Domains set by the operator are verified")
	assert.NotEmpty(t, d.Token)
	assert.True(t, d.NextCheckAt.IsZero(), "and not checked on a schedule")

	// A pending claim listed in Tenant.Domains by the operator becomes verified.
	require.NoError(t, s.AddDomain(ctx, claim("id-acme", "shop.example.org")))
	cur, err := s.Lookup(ctx, tenancy.ByID, tn.ID)
	require.NoError(t, err)
	cur.Domains = []string{"shop.example.org"}
	require.NoError(t, s.Update(ctx, cur))
	list, err = s.ListDomains(ctx, "id-acme", "")
	require.NoError(t, err)
	require.Len(t, list, 1, "a serving domain dropped from Tenant.Domains is removed")
	assert.Equal(t, "shop.example.org", list[0].Name)
	assert.Equal(t, tenancy.DomainVerified, list[0].State)
	assert.Equal(t, "tok-id-acme", list[0].Token, "its token stays")
}

// fakeDNS is a TXTResolver over a map, counting lookups.
type fakeDNS struct {
	mu      sync.Mutex
	records map[string][]string
	lookups atomic.Int64
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.records[name]; ok {
		return r, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) set(name string, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.records == nil {
		f.records = map[string][]string{}
	}
	f.records[name] = values
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// events collects domain events.
type events struct {
	mu  sync.Mutex
	got []tenancy.DomainEvent
}

func (e *events) on(ctx context.Context, ev tenancy.DomainEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) types() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		out = append(out, ev.Type+" "+ev.TenantID+" "+ev.Domain)
	}
	return out
}

type domainFixture struct {
	reg   *tenancy.Registry
	dns   *fakeDNS
	clock *fakeClock
	ev    *events
}

const grace = 72 * time.Hour

func newDomainFixture(t *testing.T, s DomainAdapter, require bool) *domainFixture {
	f := &domainFixture{dns: &fakeDNS{}, clock: &fakeClock{now: t0}, ev: &events{}}
	f.reg = tenancy.NewRegistry(s, s, tenancy.Options{
		Now:             f.clock.Now,
		PlatformDomains: []string{"example.com"},
		Domains: tenancy.DomainOptions{
			Resolver: f.dns, Interval: time.Hour, Grace: grace, OnEvent: f.ev.on, RequireVerification: require,
		},
	})
	t.Cleanup(func() { _ = f.reg.Close() })
	return f
}

func (f *domainFixture) tenant(t *testing.T, slug string) *tenancy.Tenant {
	tn, err := f.reg.Create(context.Background(), &tenancy.Tenant{ID: "t-" + slug, Slug: slug, Name: slug})
	require.NoError(t, err)
	return tn
}

// publish puts the tenant's token in the domain's TXT record.
func (f *domainFixture) publish(st *tenancy.DomainStatus) { f.dns.set(st.RecordName, st.RecordValue) }

func (f *domainFixture) check(t *testing.T) int {
	n, err := f.reg.CheckDomains(context.Background())
	require.NoError(t, err)
	return n
}

func (f *domainFixture) state(t *testing.T, tenantID, name string) *tenancy.DomainStatus {
	list, err := f.reg.Domains(context.Background(), tenantID)
	require.NoError(t, err)
	for _, st := range list {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("tenant %s has no domain %s", tenantID, name)
	return nil
}

// servedBy returns the tenant VerifiedDomain answers for name, or "".
func (f *domainFixture) servedBy(t *testing.T, name string) string {
	id, err := f.reg.VerifiedDomain(context.Background(), name)
	if err != nil {
		require.ErrorIs(t, err, tenancy.ErrNotFound)
	}
	return id
}

func testLifecycle(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	f := newDomainFixture(t, s, false)
	f.tenant(t, "acme")

	st, err := f.reg.AddDomain(ctx, "t-acme", " Shop.Acme-Corp.ORG. ")
	require.NoError(t, err)
	assert.Equal(t, "shop.acme-corp.org", st.Name)
	assert.Equal(t, tenancy.DomainPending, st.State)
	assert.Equal(t, "_saaskit-challenge.shop.acme-corp.org", st.RecordName)
	assert.Equal(t, "TXT", st.RecordType)
	assert.Equal(t, st.Token, st.RecordValue)
	assert.Len(t, st.Token, 32)
	assert.Empty(t, f.servedBy(t, "shop.acme-corp.org"), "pending does not serve")

	st, err = f.reg.VerifyDomain(ctx, "t-acme", "shop.acme-corp.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainPending, st.State)
	assert.Contains(t, st.Reason, "_saaskit-challenge.shop.acme-corp.org")
	assert.True(t, st.CheckedAt.Equal(t0))

	f.publish(st)
	st, err = f.reg.VerifyDomain(ctx, "t-acme", "shop.acme-corp.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainVerified, st.State)
	assert.Empty(t, st.Reason)
	assert.Equal(t, "t-acme", f.servedBy(t, "shop.acme-corp.org"))
	assert.Equal(t, "t-acme", f.servedBy(t, "SHOP.acme-corp.org."))
	tn, err := f.reg.Lookup(ctx, tenancy.ByDomain, "shop.acme-corp.org")
	require.NoError(t, err)
	assert.Equal(t, "t-acme", tn.ID)

	// Nothing is due before the interval.
	assert.Zero(t, f.check(t))
	f.clock.Add(time.Hour)
	assert.Equal(t, 1, f.check(t))
	assert.Equal(t, tenancy.DomainVerified, f.state(t, "t-acme", "shop.acme-corp.org").State)

	// The proof goes: failing, still serving during the grace period.
	f.dns.set(st.RecordName, "something-else")
	f.clock.Add(time.Hour)
	assert.Equal(t, 1, f.check(t))
	cur := f.state(t, "t-acme", "shop.acme-corp.org")
	assert.Equal(t, tenancy.DomainFailing, cur.State)
	assert.True(t, cur.FailingSince.Equal(f.clock.Now()))
	assert.True(t, cur.RevokeAt.Equal(f.clock.Now().Add(grace)))
	assert.Equal(t, "t-acme", f.servedBy(t, "shop.acme-corp.org"), "a failing domain serves during its grace period")

	// It comes back: recovered.
	f.publish(st)
	f.clock.Add(time.Hour)
	assert.Equal(t, 1, f.check(t))
	assert.Equal(t, tenancy.DomainVerified, f.state(t, "t-acme", "shop.acme-corp.org").State)

	// It goes for good: failing, then revoked once the grace period ends.
	f.dns.set(st.RecordName)
	for range 72 {
		f.clock.Add(time.Hour)
		f.check(t)
	}
	assert.Equal(t, tenancy.DomainFailing, f.state(t, "t-acme", "shop.acme-corp.org").State)
	assert.Equal(t, "t-acme", f.servedBy(t, "shop.acme-corp.org"))
	f.clock.Add(time.Hour)
	f.check(t)
	cur = f.state(t, "t-acme", "shop.acme-corp.org")
	assert.Equal(t, tenancy.DomainRevoked, cur.State)
	assert.True(t, cur.NextCheckAt.IsZero(), "revoked domains are not checked on a schedule")
	assert.Empty(t, f.servedBy(t, "shop.acme-corp.org"))
	_, err = f.reg.Lookup(ctx, tenancy.ByDomain, "shop.acme-corp.org")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)

	assert.Equal(t, []string{
		"domain.verified t-acme shop.acme-corp.org",
		"domain.failing t-acme shop.acme-corp.org",
		"domain.recovered t-acme shop.acme-corp.org",
		"domain.failing t-acme shop.acme-corp.org",
		"domain.revoked t-acme shop.acme-corp.org",
	}, f.ev.types())

	// The tenant may verify it again.
	f.publish(st)
	st, err = f.reg.VerifyDomain(ctx, "t-acme", "shop.acme-corp.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainVerified, st.State)
	require.NoError(t, f.reg.RemoveDomain(ctx, "t-acme", "shop.acme-corp.org"))
	assert.Empty(t, f.servedBy(t, "shop.acme-corp.org"))
}

// A failing domain stops serving when its grace period ends, even if no
// check has revoked it yet.
func testGraceWithoutChecks(t *testing.T, f *domainFixture, name string) {
	f.clock.Add(grace)
	assert.Empty(t, f.servedBy(t, name))
}

func testSquatting(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	f := newDomainFixture(t, s, false)
	f.tenant(t, "owner")
	f.tenant(t, "squatter")

	// The squatter claims first, but cannot publish the record.
	sq, err := f.reg.AddDomain(ctx, "t-squatter", "portal.owner.org")
	require.NoError(t, err)
	own, err := f.reg.AddDomain(ctx, "t-owner", "portal.owner.org")
	require.NoError(t, err)
	assert.NotEqual(t, sq.Token, own.Token)
	f.publish(own)

	sq, err = f.reg.VerifyDomain(ctx, "t-squatter", "portal.owner.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainPending, sq.State, "claiming first gives nothing")
	own, err = f.reg.VerifyDomain(ctx, "t-owner", "portal.owner.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainVerified, own.State)
	assert.Equal(t, "t-owner", f.servedBy(t, "portal.owner.org"))

	// Bad input is refused with the rule it breaks.
	for _, bad := range []string{"", "localhost", "10.0.0.1", "[::1]", "2001:db8::1", "*.owner.org", "app.example.com", "example.com",
		"a..b", "-a.org", string(make([]byte, 300)), "xn--zz--.org"} {
		_, err := f.reg.AddDomain(ctx, "t-squatter", bad)
		assert.ErrorIs(t, err, tenancy.ErrInvalid, "%q", bad)
	}
	_, err = f.reg.AddDomain(ctx, "t-nobody", "x.owner.org")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
}

func testTakeover(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	f := newDomainFixture(t, s, false)
	f.tenant(t, "old")
	f.tenant(t, "new")
	old, err := f.reg.AddDomain(ctx, "t-old", "www.bought.org")
	require.NoError(t, err)
	f.publish(old)
	_, err = f.reg.VerifyDomain(ctx, "t-old", "www.bought.org")
	require.NoError(t, err)

	// The domain changes hands: the new owner publishes its own token.
	nw, err := f.reg.AddDomain(ctx, "t-new", "www.bought.org")
	require.NoError(t, err)
	f.publish(nw)
	nw, err = f.reg.VerifyDomain(ctx, "t-new", "www.bought.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainPending, nw.State, "the old tenant still holds it")
	assert.Contains(t, nw.Reason, "another tenant")
	assert.Equal(t, "t-old", f.servedBy(t, "www.bought.org"))

	f.clock.Add(time.Hour)
	f.check(t)
	assert.Equal(t, tenancy.DomainFailing, f.state(t, "t-old", "www.bought.org").State)
	assert.Equal(t, tenancy.DomainPending, f.state(t, "t-new", "www.bought.org").State)
	assert.Equal(t, "t-old", f.servedBy(t, "www.bought.org"), "the old tenant serves during its grace period")

	testGraceWithoutChecks(t, f, "www.bought.org")
	f.check(t) // the old claim is revoked, and the new one verifies in the same pass or the next
	f.clock.Add(time.Hour)
	f.check(t)
	assert.Equal(t, tenancy.DomainRevoked, f.state(t, "t-old", "www.bought.org").State)
	assert.Equal(t, tenancy.DomainVerified, f.state(t, "t-new", "www.bought.org").State)
	assert.Equal(t, "t-new", f.servedBy(t, "www.bought.org"))
	tn, err := f.reg.Get(ctx, "t-old")
	require.NoError(t, err)
	assert.NotContains(t, tn.Domains, "www.bought.org")
}

func testReplicas(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	a := newDomainFixture(t, s, false)
	second := tenancy.NewRegistry(s, s, tenancy.Options{Now: a.clock.Now, Domains: tenancy.DomainOptions{Resolver: a.dns, Interval: time.Hour, Grace: grace, OnEvent: a.ev.on}})
	t.Cleanup(func() { _ = second.Close() })
	a.tenant(t, "acme")
	const n = 20
	for i := range n {
		st, err := a.reg.AddDomain(ctx, "t-acme", fmt.Sprintf("d%02d.acme.org", i))
		require.NoError(t, err)
		if i%2 == 0 {
			a.publish(st)
		}
	}
	for round := range 3 {
		a.clock.Add(time.Hour)
		before := a.dns.lookups.Load()
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, reg := range []*tenancy.Registry{a.reg, second} {
			wg.Go(func() {
				c, err := reg.CheckDomains(ctx)
				assert.NoError(t, err)
				counts[i] = c
			})
		}
		wg.Wait()
		assert.Equal(t, n, counts[0]+counts[1], "round %d: each domain is checked by one replica", round)
		assert.Equal(t, int64(n), a.dns.lookups.Load()-before, "round %d: one DNS lookup per domain", round)
	}
	verified := 0
	for _, e := range a.ev.types() {
		if e[:len("domain.verified")] == "domain.verified" {
			verified++
		}
	}
	assert.Equal(t, n/2, verified, "each domain turns verified once: %v", a.ev.types())
	list, err := a.reg.Domains(ctx, "t-acme")
	require.NoError(t, err)
	for i, st := range list {
		want := tenancy.DomainPending
		if i%2 == 0 {
			want = tenancy.DomainVerified
		}
		assert.Equal(t, want, st.State, st.Name)
	}
}

func testRequireVerification(t *testing.T, s DomainAdapter) {
	ctx := context.Background()
	f := newDomainFixture(t, s, true)
	_, err := f.reg.Create(ctx, &tenancy.Tenant{ID: "t-acme", Slug: "acme", Name: "Acme", Domains: []string{"app.acme.org"}})
	assert.ErrorIs(t, err, tenancy.ErrInvalid, "new Tenant.Domains are refused")
	f.tenant(t, "acme")
	_, err = f.reg.Update(ctx, "t-acme", func(tn *tenancy.Tenant) error { tn.Domains = []string{"app.acme.org"}; return nil })
	assert.ErrorIs(t, err, tenancy.ErrInvalid)

	st, err := f.reg.AddDomain(ctx, "t-acme", "bücher.acme.org")
	require.NoError(t, err)
	assert.Equal(t, "xn--bcher-kva.acme.org", st.Name, "IDNs are stored as A-labels")
	f.publish(st)
	_, err = f.reg.VerifyDomain(ctx, "t-acme", "BÜCHER.acme.org")
	require.NoError(t, err)
	// A verified domain is in Tenant.Domains, and updates keep it.
	tn, err := f.reg.Update(ctx, "t-acme", func(tn *tenancy.Tenant) error { tn.Name = "Acme Inc"; return nil })
	require.NoError(t, err)
	assert.Equal(t, []string{"xn--bcher-kva.acme.org"}, tn.Domains)
	assert.Equal(t, "t-acme", f.servedBy(t, "xn--bcher-kva.acme.org"))
	// Dropping it from Tenant.Domains removes it.
	_, err = f.reg.Update(ctx, "t-acme", func(tn *tenancy.Tenant) error { tn.Domains = nil; return nil })
	require.NoError(t, err)
	assert.Empty(t, f.servedBy(t, "xn--bcher-kva.acme.org"))
}
