// Package tenancytest is the conformance suite for tenancy stores. Every
// adapter (memstore, sqlstore on SQLite and PostgreSQL, and third-party
// ones) runs it:
//
//	func TestConformance(t *testing.T) {
//		tenancytest.RunStoreTests(t, func(t *testing.T) tenancytest.Adapter {
//			return mystore.New(...)
//		})
//	}
//
// A store that also keeps custom-domain claims (tenancy.DomainStore)
// runs RunDomainStoreTests too: the claim contract, and the whole
// verification lifecycle through a Registry over the store.
package tenancytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// Adapter is a store of both tenants and API keys.
type Adapter interface {
	tenancy.Store
	tenancy.KeyStore
}

// RunStoreTests runs the suite. newAdapter must return an empty store
// each time it is called.
func RunStoreTests(t *testing.T, newAdapter func(t *testing.T) Adapter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Adapter)
	}{
		{"CreateAndLookup", testCreateAndLookup},
		{"CreateConflicts", testCreateConflicts},
		{"LookupReturnsCopies", testLookupReturnsCopies},
		{"Update", testUpdate},
		{"UpdateConflicts", testUpdateConflicts},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"List", testList},
		{"Delete", testDelete},
		{"Keys", testKeys},
		{"KeysAreTenantScoped", testKeysTenantScoped},
		{"KeyChangesOnlyMoveOneWay", testKeyChanges},
		{"UnstorableText", testUnstorableText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newAdapter(t)) })
	}
}

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// Tenant returns a fully populated valid tenant named n.
func Tenant(n string) *tenancy.Tenant {
	return &tenancy.Tenant{
		ID: "id-" + n, Slug: n, Name: "Tenant " + n,
		Status: tenancy.StatusActive, Plan: "pro", Region: "eu-west",
		Isolation: tenancy.IsolationShared,
		Branding: tenancy.Branding{
			Name: n + " Cloud", LogoURL: "https://cdn.example.com/" + n + ".png",
			PrimaryColor: "#112233", SecondaryColor: "#abc", Font: "Inter, sans-serif",
			SupportEmail: "help@" + n + ".example", CSSVars: map[string]string{"--radius": "4px"},
		},
		Domains:    []string{"app." + n + ".example", n + ".example"},
		APIVersion: "2026-01-01",
		Settings:   map[string]string{"locale": "en-GB"},
		CreatedAt:  t0, UpdatedAt: t0,
	}
}

// equalTenant compares two tenants, treating nil and empty alike.
func equalTenant(t *testing.T, want, got *tenancy.Tenant) {
	t.Helper()
	norm := func(x *tenancy.Tenant) *tenancy.Tenant {
		c := x.Clone()
		if len(c.Domains) == 0 {
			c.Domains = nil
		}
		if len(c.Settings) == 0 {
			c.Settings = nil
		}
		if len(c.Branding.CSSVars) == 0 {
			c.Branding.CSSVars = nil
		}
		return c
	}
	assert.Equal(t, norm(want), norm(got))
}

func mustCreate(t *testing.T, s Adapter, tn *tenancy.Tenant) *tenancy.Tenant {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), tn))
	return tn
}

func testCreateAndLookup(t *testing.T, s Adapter) {
	ctx := context.Background()
	full := mustCreate(t, s, Tenant("acme"))
	assert.Equal(t, int64(1), full.Version)
	minimal := mustCreate(t, s, &tenancy.Tenant{ID: "m", Slug: "mini", Name: "Mini", Status: tenancy.StatusSuspended,
		Isolation: tenancy.IsolationDedicated, DSN: "postgres://u:p@db/mini", CreatedAt: t0, UpdatedAt: t0})

	for _, tc := range []struct {
		by    tenancy.Field
		value string
		want  *tenancy.Tenant
	}{
		{tenancy.ByID, "id-acme", full},
		{tenancy.BySlug, "acme", full},
		{tenancy.ByDomain, "app.acme.example", full},
		{tenancy.ByDomain, "acme.example", full},
		{tenancy.ByID, "m", minimal},
		{tenancy.BySlug, "mini", minimal},
	} {
		got, err := s.Lookup(ctx, tc.by, tc.value)
		require.NoError(t, err, "%s %s", tc.by, tc.value)
		equalTenant(t, tc.want, got)
	}
	for _, tc := range []struct {
		by    tenancy.Field
		value string
	}{{tenancy.ByID, "nope"}, {tenancy.BySlug, "nope"}, {tenancy.ByDomain, "nope.example"}, {tenancy.BySlug, "id-acme"}, {tenancy.ByID, "acme"}} {
		_, err := s.Lookup(ctx, tc.by, tc.value)
		assert.ErrorIs(t, err, tenancy.ErrNotFound, "%s %s", tc.by, tc.value)
	}
}

func testCreateConflicts(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	dupID := Tenant("other")
	dupID.ID = "id-acme"
	dupSlug := Tenant("other")
	dupSlug.Slug = "acme"
	dupDomain := Tenant("other")
	dupDomain.Domains = []string{"fresh.example", "acme.example"}
	for name, tn := range map[string]*tenancy.Tenant{"id": dupID, "slug": dupSlug, "domain": dupDomain} {
		assert.ErrorIs(t, s.Create(ctx, tn), tenancy.ErrConflict, name)
	}
	// A refused create leaves nothing behind.
	_, err := s.Lookup(ctx, tenancy.ByDomain, "fresh.example")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
	_, err = s.Lookup(ctx, tenancy.ByID, "id-other")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
}

func testLookupReturnsCopies(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	got, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	got.Settings["locale"] = "changed"
	got.Domains[0] = "changed.example"
	again, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	assert.Equal(t, "en-GB", again.Settings["locale"])
	assert.Equal(t, "app.acme.example", again.Domains[0])
}

func testUpdate(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	cur, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	cur.Slug = "acme-corp"
	cur.Name = "Acme Corporation"
	cur.Domains = []string{"acme.example", "new.acme.example"}
	cur.Settings = map[string]string{"locale": "fr-FR", "tz": "Europe/Paris"}
	cur.Branding.CSSVars = nil
	cur.Status = tenancy.StatusSuspended
	cur.UpdatedAt = t0.Add(time.Hour)
	require.NoError(t, s.Update(ctx, cur))
	assert.Equal(t, int64(2), cur.Version)

	got, err := s.Lookup(ctx, tenancy.ByDomain, "new.acme.example")
	require.NoError(t, err)
	equalTenant(t, cur, got)
	_, err = s.Lookup(ctx, tenancy.ByDomain, "app.acme.example")
	assert.ErrorIs(t, err, tenancy.ErrNotFound, "removed domain still resolves")
	_, err = s.Lookup(ctx, tenancy.BySlug, "acme")
	assert.ErrorIs(t, err, tenancy.ErrNotFound, "old slug still resolves")

	missing := Tenant("ghost")
	missing.Version = 1
	assert.ErrorIs(t, s.Update(ctx, missing), tenancy.ErrNotFound)
}

func testUpdateConflicts(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	mustCreate(t, s, Tenant("globex"))
	before, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)

	stale := before.Clone()
	stale.Version = 0
	stale.Name = "stale"
	assert.ErrorIs(t, s.Update(ctx, stale), tenancy.ErrConflict, "stale version")

	takeSlug := before.Clone()
	takeSlug.Slug = "globex"
	assert.ErrorIs(t, s.Update(ctx, takeSlug), tenancy.ErrConflict, "slug of another tenant")

	takeDomain := before.Clone()
	takeDomain.Domains = []string{"globex.example"}
	assert.ErrorIs(t, s.Update(ctx, takeDomain), tenancy.ErrConflict, "domain of another tenant")

	after, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	equalTenant(t, before, after)
	g, err := s.Lookup(ctx, tenancy.ByDomain, "globex.example")
	require.NoError(t, err)
	assert.Equal(t, "id-globex", g.ID, "another tenant's domain was taken")
}

func testConcurrentUpdates(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			for {
				cur, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
				if err != nil {
					errs <- err
					return
				}
				cur.Settings[fmt.Sprintf("writer%d", i)] = "done"
				err = s.Update(ctx, cur)
				if err == nil {
					return
				}
				if !assert.ErrorIs(t, err, tenancy.ErrConflict) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Lookup(ctx, tenancy.ByID, "id-acme")
	require.NoError(t, err)
	assert.Equal(t, int64(writers+1), got.Version)
	for i := range writers {
		assert.Equal(t, "done", got.Settings[fmt.Sprintf("writer%d", i)], "write %d lost", i)
	}
}

func testList(t *testing.T, s Adapter) {
	ctx := context.Background()
	for _, n := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		tn := Tenant(n)
		if n == "charlie" {
			tn.Status = tenancy.StatusSuspended
		}
		mustCreate(t, s, tn)
	}
	ids := func(ts []*tenancy.Tenant) []string {
		var out []string
		for _, tn := range ts {
			out = append(out, tn.ID)
		}
		return out
	}
	page, err := s.List(ctx, tenancy.ListOptions{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"id-alpha", "id-bravo"}, ids(page))
	page, err = s.List(ctx, tenancy.ListOptions{After: "id-bravo", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"id-charlie", "id-delta"}, ids(page))
	page, err = s.List(ctx, tenancy.ListOptions{After: "id-delta"})
	require.NoError(t, err)
	assert.Equal(t, []string{"id-echo"}, ids(page))
	echo := Tenant("echo")
	echo.Version = 1
	equalTenant(t, echo, page[0])
	page, err = s.List(ctx, tenancy.ListOptions{Status: tenancy.StatusSuspended})
	require.NoError(t, err)
	assert.Equal(t, []string{"id-charlie"}, ids(page))
}

func testDelete(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	mustCreate(t, s, Tenant("globex"))
	require.NoError(t, s.CreateKey(ctx, key("k1", "id-acme")))
	require.NoError(t, s.CreateKey(ctx, key("k2", "id-globex")))

	require.NoError(t, s.Delete(ctx, "id-acme"))
	for _, tc := range []struct {
		by tenancy.Field
		v  string
	}{{tenancy.ByID, "id-acme"}, {tenancy.BySlug, "acme"}, {tenancy.ByDomain, "acme.example"}} {
		_, err := s.Lookup(ctx, tc.by, tc.v)
		assert.ErrorIs(t, err, tenancy.ErrNotFound)
	}
	_, err := s.FindKey(ctx, "k1")
	assert.ErrorIs(t, err, tenancy.ErrNotFound, "deleted tenant's key survives")
	_, err = s.FindKey(ctx, "k2")
	assert.NoError(t, err, "another tenant's key was deleted")
	assert.ErrorIs(t, s.Delete(ctx, "id-acme"), tenancy.ErrNotFound)
	// The slug and domains are free again.
	require.NoError(t, s.Create(ctx, Tenant("acme")))
}

func key(id, tenantID string) *tenancy.APIKey {
	return &tenancy.APIKey{
		ID: id, TenantID: tenantID, Name: "key " + id, Prefix: "sk_test_",
		Hash: []byte("0123456789abcdef0123456789abcdef"), Last4: "wxyz",
		Scopes: []string{"invoices:read", "invoices:write"}, CreatedAt: t0,
	}
}

func testKeys(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	k := key("k1", "id-acme")
	k.ExpiresAt = t0.Add(24 * time.Hour)
	require.NoError(t, s.CreateKey(ctx, k))
	k2 := key("k2", "id-acme")
	k2.CreatedAt = t0.Add(time.Second)
	k2.Scopes = nil
	require.NoError(t, s.CreateKey(ctx, k2))
	assert.ErrorIs(t, s.CreateKey(ctx, key("k1", "id-acme")), tenancy.ErrConflict)
	assert.ErrorIs(t, s.CreateKey(ctx, key("k3", "id-ghost")), tenancy.ErrNotFound, "key for unknown tenant")

	got, err := s.GetKey(ctx, "id-acme", "k1")
	require.NoError(t, err)
	assert.Equal(t, k, got)
	got, err = s.FindKey(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, k, got)
	_, err = s.FindKey(ctx, "nope")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)

	list, err := s.ListKeys(ctx, "id-acme")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "k1", list[0].ID)
	assert.Equal(t, "k2", list[1].ID)
	assert.Empty(t, list[1].Scopes)
}

func testKeysTenantScoped(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	mustCreate(t, s, Tenant("globex"))
	require.NoError(t, s.CreateKey(ctx, key("acme1", "id-acme")))

	_, err := s.GetKey(ctx, "id-globex", "acme1")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
	list, err := s.ListKeys(ctx, "id-globex")
	require.NoError(t, err)
	assert.Empty(t, list)
	err = s.UpdateKey(ctx, "id-globex", "acme1", tenancy.KeyChange{RevokedAt: t0})
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
	got, err := s.GetKey(ctx, "id-acme", "acme1")
	require.NoError(t, err)
	assert.True(t, got.RevokedAt.IsZero(), "another tenant revoked the key")
}

func testKeyChanges(t *testing.T, s Adapter) {
	ctx := context.Background()
	mustCreate(t, s, Tenant("acme"))
	require.NoError(t, s.CreateKey(ctx, key("k", "id-acme")))
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	steps := []struct {
		ch                     tenancy.KeyChange
		expires, used, revoked time.Time
	}{
		{tenancy.KeyChange{ExpiresAt: at(10)}, at(10), time.Time{}, time.Time{}},
		{tenancy.KeyChange{ExpiresAt: at(20)}, at(10), time.Time{}, time.Time{}}, // never later
		{tenancy.KeyChange{ExpiresAt: at(5), LastUsedAt: at(2)}, at(5), at(2), time.Time{}},
		{tenancy.KeyChange{LastUsedAt: at(1)}, at(5), at(2), time.Time{}}, // never earlier
		{tenancy.KeyChange{RevokedAt: at(3)}, at(5), at(2), at(3)},
		{tenancy.KeyChange{RevokedAt: at(4), LastUsedAt: at(4)}, at(5), at(4), at(3)}, // first revocation stands
	}
	for i, st := range steps {
		require.NoError(t, s.UpdateKey(ctx, "id-acme", "k", st.ch), "step %d", i)
		got, err := s.GetKey(ctx, "id-acme", "k")
		require.NoError(t, err)
		assert.Equal(t, st.expires, got.ExpiresAt, "step %d expires", i)
		assert.Equal(t, st.used, got.LastUsedAt, "step %d last used", i)
		assert.Equal(t, st.revoked, got.RevokedAt, "step %d revoked", i)
	}
	assert.ErrorIs(t, s.UpdateKey(ctx, "id-acme", "ghost", tenancy.KeyChange{RevokedAt: t0}), tenancy.ErrNotFound)
}

// testUnstorableText: identifiers no text column holds (a NUL byte,
// invalid UTF-8), as request paths and headers may carry, are not found,
// never a database error.
func testUnstorableText(t *testing.T, s Adapter) {
	ctx := context.Background()
	for _, v := range []string{"a\x00b", "\xff", "id-\xc3\x28"} {
		for _, by := range []tenancy.Field{tenancy.ByID, tenancy.BySlug, tenancy.ByDomain} {
			_, err := s.Lookup(ctx, by, v)
			assert.ErrorIs(t, err, tenancy.ErrNotFound, "Lookup by %s %q", by, v)
		}
		assert.ErrorIs(t, s.Delete(ctx, v), tenancy.ErrNotFound, "Delete %q", v)
		_, err := s.GetKey(ctx, "id-acme", v)
		assert.ErrorIs(t, err, tenancy.ErrNotFound, "GetKey %q", v)
		_, err = s.FindKey(ctx, v)
		assert.ErrorIs(t, err, tenancy.ErrNotFound, "FindKey %q", v)
	}
}
