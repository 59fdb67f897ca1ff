package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// countingStore counts lookups that reach the store.
type countingStore struct {
	*memstore.Store
	lookups atomic.Int64
	fail    atomic.Bool
}

func (s *countingStore) Lookup(ctx context.Context, by tenancy.Field, v string) (*tenancy.Tenant, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return nil, errors.New("database is down")
	}
	return s.Store.Lookup(ctx, by, v)
}

type fixture struct {
	reg   *tenancy.Registry
	store *countingStore
	clock *testclock.Clock
}

func newFixture(t *testing.T, opts tenancy.Options) *fixture {
	t.Helper()
	f := &fixture{store: &countingStore{Store: memstore.New()}, clock: testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.reg = tenancy.NewRegistry(f.store, f.store, opts)
	t.Cleanup(func() { _ = f.reg.Close() })
	return f
}

func (f *fixture) create(t *testing.T, tn *tenancy.Tenant) *tenancy.Tenant {
	t.Helper()
	got, err := f.reg.Create(context.Background(), tn)
	require.NoError(t, err)
	return got
}

func TestCreateFillsDefaults(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	got := f.create(t, &tenancy.Tenant{Slug: " ACME ", Name: " Acme Inc ", Domains: []string{"App.Acme.COM."}})
	assert.Regexp(t, `^tnt_[a-z2-7]{16}$`, got.ID)
	assert.Equal(t, "acme", got.Slug)
	assert.Equal(t, "Acme Inc", got.Name)
	assert.Equal(t, tenancy.StatusActive, got.Status)
	assert.Equal(t, tenancy.IsolationShared, got.Isolation)
	assert.Equal(t, []string{"app.acme.com"}, got.Domains)
	assert.Equal(t, f.clock.Now(), got.CreatedAt)
	assert.Equal(t, int64(1), got.Version)

	_, err := f.reg.Create(context.Background(), &tenancy.Tenant{Slug: "acme", Name: "Again"})
	assert.ErrorIs(t, err, tenancy.ErrConflict)
	_, err = f.reg.Create(context.Background(), nil)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestCreateChecksRegions(t *testing.T) {
	f := newFixture(t, tenancy.Options{Regions: []string{"eu", "us"}})
	_, err := f.reg.Create(context.Background(), &tenancy.Tenant{Slug: "acme", Name: "Acme", Region: "mars"})
	var fe *tenancy.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "region", fe.Field)
	assert.Contains(t, err.Error(), "eu, us")
	f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme", Region: "eu"})
}

func TestUpdateRetriesConcurrentWriters(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	const writers = 20
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := f.reg.Update(context.Background(), tn.ID, func(t *tenancy.Tenant) error {
				if t.Settings == nil {
					t.Settings = map[string]string{}
				}
				t.Settings[fmt.Sprint("k", i)] = "v"
				return nil
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := f.reg.Get(context.Background(), tn.ID)
	require.NoError(t, err)
	assert.Len(t, got.Settings, writers)
	assert.Equal(t, int64(writers+1), got.Version)
}

func TestUpdateValidatesAndKeepsIdentity(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	f.create(t, &tenancy.Tenant{Slug: "globex", Name: "Globex"})
	ctx := context.Background()

	_, err := f.reg.Update(ctx, tn.ID, func(t *tenancy.Tenant) error { t.Branding.PrimaryColor = "red"; return nil })
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = f.reg.Update(ctx, tn.ID, func(t *tenancy.Tenant) error { t.Slug = "globex"; return nil })
	assert.ErrorIs(t, err, tenancy.ErrConflict)
	boom := errors.New("boom")
	_, err = f.reg.Update(ctx, tn.ID, func(t *tenancy.Tenant) error { return boom })
	assert.ErrorIs(t, err, boom)
	_, err = f.reg.Update(ctx, "ghost", func(t *tenancy.Tenant) error { return nil })
	assert.ErrorIs(t, err, tenancy.ErrNotFound)

	f.clock.Advance(time.Minute)
	got, err := f.reg.Update(ctx, tn.ID, func(t *tenancy.Tenant) error {
		t.ID, t.Version, t.Name = "hijack", 99, "Acme 2"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, tn.ID, got.ID)
	assert.Equal(t, int64(2), got.Version)
	assert.Equal(t, "Acme 2", got.Name)
	assert.Equal(t, tn.CreatedAt, got.CreatedAt)
	assert.Equal(t, f.clock.Now(), got.UpdatedAt)

	suspended, err := f.reg.SetStatus(ctx, tn.ID, tenancy.StatusSuspended)
	require.NoError(t, err)
	assert.False(t, suspended.Active())
}

func TestLookupCachesWithTTL(t *testing.T) {
	f := newFixture(t, tenancy.Options{CacheTTL: time.Minute})
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	ctx := context.Background()
	before := f.store.lookups.Load()
	for range 5 {
		got, err := f.reg.Lookup(ctx, tenancy.BySlug, "acme")
		require.NoError(t, err)
		assert.Equal(t, tn.ID, got.ID)
	}
	assert.Equal(t, before+1, f.store.lookups.Load(), "warm lookups reached the store")

	// A change made behind the registry's back shows after the TTL.
	cur, err := f.store.Store.Lookup(ctx, tenancy.ByID, tn.ID)
	require.NoError(t, err)
	cur.Name = "Renamed elsewhere"
	require.NoError(t, f.store.Store.Update(ctx, cur))
	got, _ := f.reg.Lookup(ctx, tenancy.BySlug, "acme")
	assert.Equal(t, "Acme", got.Name, "served from cache within the TTL")
	f.clock.Advance(time.Minute)
	got, _ = f.reg.Lookup(ctx, tenancy.BySlug, "acme")
	assert.Equal(t, "Renamed elsewhere", got.Name, "cache outlived its TTL")

	// Lookup returns copies: changing one does not change the cache.
	got.Name = "mutated"
	again, _ := f.reg.Lookup(ctx, tenancy.BySlug, "acme")
	assert.Equal(t, "Renamed elsewhere", again.Name)
}

func TestChangesInvalidateCacheAtOnce(t *testing.T) {
	f := newFixture(t, tenancy.Options{CacheTTL: time.Hour})
	ctx := context.Background()
	_, err := f.reg.Lookup(ctx, tenancy.ByDomain, "app.acme.com")
	require.ErrorIs(t, err, tenancy.ErrNotFound) // cached miss

	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme", Domains: []string{"app.acme.com"}})
	got, err := f.reg.Lookup(ctx, tenancy.ByDomain, "app.acme.com")
	require.NoError(t, err, "cached miss survived a create")
	assert.Equal(t, tn.ID, got.ID)

	_, err = f.reg.SetStatus(ctx, tn.ID, tenancy.StatusSuspended)
	require.NoError(t, err)
	got, err = f.reg.Lookup(ctx, tenancy.ByDomain, "app.acme.com")
	require.NoError(t, err)
	assert.Equal(t, tenancy.StatusSuspended, got.Status)

	require.NoError(t, f.reg.Delete(ctx, tn.ID))
	_, err = f.reg.Lookup(ctx, tenancy.ByDomain, "app.acme.com")
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
	assert.ErrorIs(t, f.reg.Delete(ctx, tn.ID), tenancy.ErrNotFound)
}

func TestStoreFailureIsNotCached(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	f.store.fail.Store(true)
	_, err := f.reg.Lookup(context.Background(), tenancy.BySlug, "acme")
	require.Error(t, err)
	assert.NotErrorIs(t, err, tenancy.ErrNotFound)
	f.store.fail.Store(false)
	_, err = f.reg.Lookup(context.Background(), tenancy.BySlug, "acme")
	assert.NoError(t, err)
}

func TestLookupRejectsUnknownField(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	_, err := f.reg.Lookup(context.Background(), tenancy.Field(42), "x")
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestCoarseClockExpiresEntries(t *testing.T) {
	// Without Options.Now the caches read a coarse clock a ticker keeps.
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{CacheTTL: 20 * time.Millisecond})
	defer reg.Close()
	ctx := context.Background()
	tn, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	_, err = reg.Lookup(ctx, tenancy.BySlug, "acme")
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, tn.ID)) // behind the registry's back
	await.True(t, func() bool {
		_, err := reg.Lookup(ctx, tenancy.BySlug, "acme")
		return errors.Is(err, tenancy.ErrNotFound)
	})
}

func TestListPages(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	for _, s := range []string{"c", "a", "b"} {
		f.create(t, &tenancy.Tenant{ID: s, Slug: s + s, Name: s})
	}
	page, err := f.reg.List(context.Background(), tenancy.ListOptions{After: "a", Limit: 1})
	require.NoError(t, err)
	require.Len(t, page, 1)
	assert.Equal(t, "b", page[0].ID)
}
