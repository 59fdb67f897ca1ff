package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Registry. The zero value is a sensible default.
type Options struct {
	// Regions lists the allowed home regions. Empty: any region name.
	Regions []string
	// CacheTTL bounds how long a lookup is served from memory. Changes
	// made through this Registry clear the cache at once; the TTL bounds
	// how long changes made by other processes take to be seen.
	// Default 30s; negative disables caching.
	CacheTTL time.Duration
	// CacheSize bounds the entries kept per lookup field. Default 10000.
	CacheSize int
	// KeyTouchInterval is how stale an API key's LastUsedAt may become
	// before a use writes it again, to save a write per request.
	// Default 1 minute.
	KeyTouchInterval time.Duration
	// PlatformDomains are the service's own domains (the base domains of
	// Subdomain resolution, the apex). No tenant may claim one of them, or
	// a name under one, as a custom domain.
	PlatformDomains []string
	// Domains configures custom-domain verification (see AddDomain).
	Domains DomainOptions
	// Now is the clock. Default time.Now, read coarsely (to within
	// CacheTTL/10, at most 1s) for cache expiry.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.CacheTTL == 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.KeyTouchInterval <= 0 {
		o.KeyTouchInterval = time.Minute
	}
	return o
}

// Registry is the tenant directory a service uses: validated writes,
// cached lookups and API keys, over a Store and a KeyStore.
// It is safe for concurrent use. Call Close to stop its clock.
type Registry struct {
	store   Store
	keys    KeyStore
	opts    Options
	clock   *clock
	gen     atomic.Uint64 // bumped on every change; see invalidate
	caches  [ByDomain + 1]*cache[*Tenant]
	keyc    *cache[*APIKey]
	touched sync.Map    // API key ID → Unix nanoseconds of this Registry's last LastUsedAt write
	domains DomainStore // store, when it keeps domain claims; else nil
	dopts   DomainOptions
}

// NewRegistry returns a Registry over store. keys may be nil when the
// service issues no API keys; the key methods then return an error.
// When store is also a DomainStore (memstore and sqlstore are), custom
// domains have a verified lifecycle (AddDomain, VerifyDomain,
// CheckDomains).
func NewRegistry(store Store, keys KeyStore, opts Options) *Registry {
	opts = opts.withDefaults()
	resolution := min(max(opts.CacheTTL/10, 10*time.Millisecond), time.Second)
	r := &Registry{store: store, keys: keys, opts: opts, clock: newClock(opts.Now, resolution), dopts: opts.Domains.withDefaults()}
	r.domains, _ = store.(DomainStore)
	for f := ByID; f <= ByDomain; f++ {
		r.caches[f] = r.newTenantCache()
	}
	r.keyc = newCache[*APIKey](r.clock, &r.gen, opts.CacheTTL, opts.CacheSize)
	return r
}

// newTenantCache returns a cache of tenants that this Registry's changes
// invalidate.
func (r *Registry) newTenantCache() *cache[*Tenant] {
	return newCache[*Tenant](r.clock, &r.gen, r.opts.CacheTTL, r.opts.CacheSize)
}

// Close stops the Registry's background clock. Lookups keep working.
func (r *Registry) Close() error {
	r.clock.close()
	return nil
}

// Create validates t, fills defaults (ID, status, isolation, timestamps)
// and stores it. It returns the stored tenant; t is not changed.
func (r *Registry) Create(ctx context.Context, t *Tenant) (*Tenant, error) {
	if t == nil {
		return nil, fmt.Errorf("create tenant: %w", fieldErr("tenant", "must not be nil"))
	}
	c := t.Clone()
	if c.ID == "" {
		c.ID = NewID()
	}
	c.normalize()
	now := r.clock.Now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	if err := errors.Join(r.validate(c), r.requireVerified(nil, c.Domains)); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	if err := r.store.Create(ctx, c); err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", c.ID, err)
	}
	r.invalidate()
	return c.Clone(), nil
}

// Get returns a copy of the tenant with that ID (cached).
func (r *Registry) Get(ctx context.Context, id string) (*Tenant, error) {
	return r.Lookup(ctx, ByID, id)
}

// Lookup returns a copy of the tenant whose field equals value (cached).
func (r *Registry) Lookup(ctx context.Context, by Field, value string) (*Tenant, error) {
	t, err := r.lookup(ctx, by, value)
	if err != nil {
		return nil, err
	}
	return t.Clone(), nil
}

// lookup returns the cached, shared tenant: callers must not change it.
func (r *Registry) lookup(ctx context.Context, by Field, value string) (*Tenant, error) {
	t, _, err := r.lookupUntil(ctx, by, value)
	return t, err
}

// lookupUntil is lookup that also says until when (clock nanoseconds)
// the answer may be cached.
func (r *Registry) lookupUntil(ctx context.Context, by Field, value string) (*Tenant, int64, error) {
	if by < ByID || by > ByDomain {
		return nil, 0, fmt.Errorf("lookup tenant: %w", fieldErr("field", "must be ByID, BySlug or ByDomain"))
	}
	c := r.caches[by]
	if e := c.entry(value); e != nil {
		return e.value, e.expires, e.err
	}
	gen := c.generation()
	expires := r.clock.nanos() + int64(r.opts.CacheTTL)
	var (
		t   *Tenant
		err error
	)
	if by == ByDomain {
		var until int64
		t, until, err = r.servingTenant(ctx, value)
		if until > 0 {
			expires = min(expires, until)
		}
	} else {
		t, err = r.store.Lookup(ctx, by, value)
	}
	switch {
	case err == nil:
		c.putUntil(value, t, nil, gen, expires)
	case errors.Is(err, ErrNotFound):
		err = fmt.Errorf("tenant with %s %q: %w", by, value, ErrNotFound)
		c.put(value, nil, err, gen)
	default:
		return nil, 0, fmt.Errorf("lookup tenant by %s: %w", by, err)
	}
	return t, expires, err
}

// Update applies change to the current version of the tenant and stores
// the result, retrying from a fresh copy when a concurrent update won
// the race, so no write is lost. change must not keep t. ID, Version and
// timestamps are not changeable.
func (r *Registry) Update(ctx context.Context, id string, change func(t *Tenant) error) (*Tenant, error) {
	for {
		cur, err := r.store.Lookup(ctx, ByID, id)
		if err != nil {
			return nil, fmt.Errorf("update tenant %s: %w", id, err)
		}
		t := cur.Clone()
		if err := change(t); err != nil {
			return nil, fmt.Errorf("update tenant %s: %w", id, err)
		}
		t.ID, t.Version, t.CreatedAt = cur.ID, cur.Version, cur.CreatedAt
		t.normalize()
		t.UpdatedAt = r.clock.Now().UTC().Truncate(time.Microsecond)
		if err := errors.Join(r.validate(t), r.requireVerified(cur.Domains, t.Domains)); err != nil {
			return nil, fmt.Errorf("update tenant %s: %w", id, err)
		}
		err = r.store.Update(ctx, t)
		if err == nil {
			r.invalidate()
			return t.Clone(), nil
		}
		// A conflict on the version means another writer won: reload and
		// retry. A conflict on a unique value will repeat: stop there.
		stale, lookupErr := r.store.Lookup(ctx, ByID, id)
		if !errors.Is(err, ErrConflict) || lookupErr != nil || stale.Version == cur.Version {
			return nil, fmt.Errorf("update tenant %s: %w", id, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("update tenant %s: %w", id, err)
		}
	}
}

// validate checks a tenant against the rules and this Registry's
// configuration.
func (r *Registry) validate(t *Tenant) error {
	err := Validate(t, r.opts.Regions)
	for i, d := range t.Domains {
		err = errors.Join(err, r.checkPlatform(d, "domains["+strconv.Itoa(i)+"]"))
	}
	return err
}

// requireVerified refuses names new to Tenant.Domains when
// DomainOptions.RequireVerification is set.
func (r *Registry) requireVerified(prev, next []string) error {
	if !r.dopts.RequireVerification {
		return nil
	}
	var errs []error
	for _, d := range domainsAdded(prev, next) {
		errs = append(errs, fieldErr("domains", d+" must be added with AddDomain and verified, not set directly"))
	}
	return errors.Join(errs...)
}

// SetStatus changes a tenant's status (suspend, reactivate, soft delete).
func (r *Registry) SetStatus(ctx context.Context, id string, s Status) (*Tenant, error) {
	return r.Update(ctx, id, func(t *Tenant) error { t.Status = s; return nil })
}

// Delete removes the tenant and its API keys for good.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if err := r.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	r.invalidate()
	return nil
}

// List pages through tenants in ID order.
func (r *Registry) List(ctx context.Context, opts ListOptions) ([]*Tenant, error) {
	ts, err := r.store.List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// invalidate drops every cached lookup, in this Registry and in its
// resolvers' host caches: writes are rare, and dropping all also drops
// cached misses that a new slug or domain makes wrong.
func (r *Registry) invalidate() { r.gen.Add(1) }
