// Package memstore is the in-memory tenancy store: for tests, examples and
// single-process services that can lose their tenants on restart.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/tenancy"
)

// Store keeps tenants, domain claims and API keys in maps behind one
// mutex. It implements tenancy.Store, tenancy.KeyStore,
// tenancy.DomainStore and tenancy.UsageStore (counters behind a mutex of
// their own). The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	tenants map[string]*tenancy.Tenant   // by ID
	slugs   map[string]string            // slug → ID
	domains map[string]string            // serving domain → ID
	claims  map[string][]*tenancy.Domain // tenant ID → its domains, in the order added
	keys    map[string]*tenancy.APIKey   // by key ID

	usageMu sync.Mutex
	usage   map[usageKey]*int64
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		tenants: map[string]*tenancy.Tenant{},
		slugs:   map[string]string{},
		domains: map[string]string{},
		claims:  map[string][]*tenancy.Domain{},
		keys:    map[string]*tenancy.APIKey{},
		usage:   map[usageKey]*int64{},
	}
}

var (
	_ tenancy.Store       = (*Store)(nil)
	_ tenancy.KeyStore    = (*Store)(nil)
	_ tenancy.DomainStore = (*Store)(nil)
	_ tenancy.UsageStore  = (*Store)(nil)
)

// Create implements tenancy.Store.
func (s *Store) Create(ctx context.Context, t *tenancy.Tenant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return fmt.Errorf("tenant id %q: %w", t.ID, tenancy.ErrConflict)
	}
	if err := s.checkUnique(t); err != nil {
		return err
	}
	c := t.Clone()
	c.Version = 1
	s.put(c)
	s.assertDomains(c)
	t.Version = 1
	return nil
}

// checkUnique reports a slug or domain held by another tenant.
func (s *Store) checkUnique(t *tenancy.Tenant) error {
	if id, ok := s.slugs[t.Slug]; ok && id != t.ID {
		return fmt.Errorf("slug %q: %w", t.Slug, tenancy.ErrConflict)
	}
	for _, d := range t.Domains {
		if id, ok := s.domains[d]; ok && id != t.ID {
			return fmt.Errorf("domain %q: %w", d, tenancy.ErrConflict)
		}
	}
	return nil
}

func (s *Store) put(t *tenancy.Tenant) {
	s.tenants[t.ID] = t
	s.slugs[t.Slug] = t.ID
	for _, d := range t.Domains {
		s.domains[d] = t.ID
	}
}

func (s *Store) unindex(t *tenancy.Tenant) {
	delete(s.slugs, t.Slug)
	for _, d := range t.Domains {
		delete(s.domains, d)
	}
}

// Lookup implements tenancy.Store.
func (s *Store) Lookup(ctx context.Context, by tenancy.Field, value string) (*tenancy.Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id := value
	switch by {
	case tenancy.ByID:
	case tenancy.BySlug:
		id = s.slugs[value]
	case tenancy.ByDomain:
		id = s.domains[value]
	default:
		return nil, fmt.Errorf("lookup by %s: %w", by, tenancy.ErrInvalid)
	}
	t, ok := s.tenants[id]
	if !ok {
		return nil, fmt.Errorf("tenant with %s %q: %w", by, value, tenancy.ErrNotFound)
	}
	return t.Clone(), nil
}

// Update implements tenancy.Store.
func (s *Store) Update(ctx context.Context, t *tenancy.Tenant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.tenants[t.ID]
	if !ok {
		return fmt.Errorf("tenant %q: %w", t.ID, tenancy.ErrNotFound)
	}
	if cur.Version != t.Version {
		return fmt.Errorf("tenant %q version %d is stale (now %d): %w", t.ID, t.Version, cur.Version, tenancy.ErrConflict)
	}
	if err := s.checkUnique(t); err != nil {
		return err
	}
	c := t.Clone()
	c.Version++
	c.CreatedAt = cur.CreatedAt
	s.unindex(cur)
	s.put(c)
	s.claims[t.ID] = slices.DeleteFunc(s.claims[t.ID], func(d *tenancy.Domain) bool {
		return d.State.Serving() && !slices.Contains(t.Domains, d.Name)
	})
	s.assertDomains(c)
	t.Version = c.Version
	return nil
}

// assertDomains makes t's domains verified claims: the operator set them.
func (s *Store) assertDomains(t *tenancy.Tenant) {
	for _, name := range t.Domains {
		i := slices.IndexFunc(s.claims[t.ID], func(d *tenancy.Domain) bool { return d.Name == name })
		if i < 0 {
			s.claims[t.ID] = append(s.claims[t.ID], &tenancy.Domain{TenantID: t.ID, Name: name, State: tenancy.DomainVerified,
				Token: tenancy.NewDomainToken(), CreatedAt: t.UpdatedAt, VerifiedAt: t.UpdatedAt, Version: 1})
			continue
		}
		if d := s.claims[t.ID][i]; !d.State.Serving() {
			c := *d
			c.State, c.VerifiedAt, c.Reason, c.Version = tenancy.DomainVerified, t.UpdatedAt, "", d.Version+1
			s.claims[t.ID][i] = &c
		}
	}
}

// List implements tenancy.Store.
func (s *Store) List(ctx context.Context, opts tenancy.ListOptions) ([]*tenancy.Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*tenancy.Tenant
	for id, t := range s.tenants {
		if id > opts.After && (opts.Status == "" || t.Status == opts.Status) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *tenancy.Tenant) int { return strings.Compare(a.ID, b.ID) })
	out = out[:min(len(out), opts.EffectiveLimit())]
	for i, t := range out {
		out[i] = t.Clone()
	}
	return out, nil
}

// Delete implements tenancy.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return fmt.Errorf("tenant %q: %w", id, tenancy.ErrNotFound)
	}
	s.unindex(t)
	delete(s.tenants, id)
	delete(s.claims, id)
	for kid, k := range s.keys {
		if k.TenantID == id {
			delete(s.keys, kid)
		}
	}
	return nil
}

// CreateKey implements tenancy.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *tenancy.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[k.TenantID]; !ok {
		return fmt.Errorf("tenant %q: %w", k.TenantID, tenancy.ErrNotFound)
	}
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("api key %q: %w", k.ID, tenancy.ErrConflict)
	}
	s.keys[k.ID] = cloneKey(k)
	return nil
}

// GetKey implements tenancy.KeyStore.
func (s *Store) GetKey(ctx context.Context, tenantID, id string) (*tenancy.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	if !ok || k.TenantID != tenantID {
		return nil, fmt.Errorf("api key %q: %w", id, tenancy.ErrNotFound)
	}
	return cloneKey(k), nil
}

// FindKey implements tenancy.KeyStore.
func (s *Store) FindKey(ctx context.Context, id string) (*tenancy.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, fmt.Errorf("api key %q: %w", id, tenancy.ErrNotFound)
	}
	return cloneKey(k), nil
}

// ListKeys implements tenancy.KeyStore.
func (s *Store) ListKeys(ctx context.Context, tenantID string) ([]*tenancy.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*tenancy.APIKey
	for _, k := range s.keys {
		if k.TenantID == tenantID {
			out = append(out, cloneKey(k))
		}
	}
	slices.SortFunc(out, func(a, b *tenancy.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateKey implements tenancy.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, tenantID, id string, ch tenancy.KeyChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok || k.TenantID != tenantID {
		return fmt.Errorf("api key %q: %w", id, tenancy.ErrNotFound)
	}
	ch.Apply(k)
	return nil
}

func cloneKey(k *tenancy.APIKey) *tenancy.APIKey {
	c := *k
	c.Hash = slices.Clone(k.Hash)
	c.Scopes = slices.Clone(k.Scopes)
	return &c
}

// AddDomain implements tenancy.DomainStore.
func (s *Store) AddDomain(ctx context.Context, d *tenancy.Domain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[d.TenantID]
	if !ok {
		return fmt.Errorf("tenant %q: %w", d.TenantID, tenancy.ErrNotFound)
	}
	if slices.ContainsFunc(s.claims[d.TenantID], func(c *tenancy.Domain) bool { return c.Name == d.Name }) {
		return fmt.Errorf("domain %q: %w", d.Name, tenancy.ErrConflict)
	}
	c := *d
	c.Version = 1
	if c.State.Serving() {
		if err := s.serve(t, c.Name); err != nil {
			return err
		}
	}
	s.claims[d.TenantID] = append(s.claims[d.TenantID], &c)
	d.Version = 1
	return nil
}

// serve makes name one of t's serving domains, unless another tenant's.
func (s *Store) serve(t *tenancy.Tenant, name string) error {
	if id, ok := s.domains[name]; ok && id != t.ID {
		return fmt.Errorf("domain %q: %w", name, tenancy.ErrConflict)
	}
	s.domains[name] = t.ID
	t.Domains = append(t.Domains, name)
	t.Version++
	return nil
}

// ListDomains implements tenancy.DomainStore.
func (s *Store) ListDomains(ctx context.Context, tenantID, name string) ([]*tenancy.Domain, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*tenancy.Domain
	for _, d := range s.claims[tenantID] {
		if name == "" || d.Name == name {
			c := *d
			out = append(out, &c)
		}
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
	}
	return out, nil
}

// DueDomains implements tenancy.DomainStore.
func (s *Store) DueDomains(ctx context.Context, now time.Time, limit int) ([]*tenancy.Domain, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*tenancy.Domain
	for _, ds := range s.claims {
		for _, d := range ds {
			if !d.NextCheckAt.IsZero() && !d.NextCheckAt.After(now) {
				c := *d
				out = append(out, &c)
			}
		}
	}
	slices.SortFunc(out, func(a, b *tenancy.Domain) int {
		if c := a.NextCheckAt.Compare(b.NextCheckAt); c != 0 {
			return c
		}
		return strings.Compare(a.TenantID+"\x00"+a.Name, b.TenantID+"\x00"+b.Name)
	})
	return out[:min(len(out), limit)], nil
}

// UpdateDomain implements tenancy.DomainStore.
func (s *Store) UpdateDomain(ctx context.Context, d *tenancy.Domain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.claims[d.TenantID]
	i := slices.IndexFunc(ds, func(c *tenancy.Domain) bool { return c.Name == d.Name })
	if i < 0 {
		return fmt.Errorf("domain %q: %w", d.Name, tenancy.ErrNotFound)
	}
	cur := ds[i]
	if cur.Version != d.Version {
		return fmt.Errorf("domain %q version %d is stale (now %d): %w", d.Name, d.Version, cur.Version, tenancy.ErrConflict)
	}
	t := s.tenants[d.TenantID]
	switch {
	case d.State.Serving() && !cur.State.Serving():
		if err := s.serve(t, d.Name); err != nil {
			return err
		}
	case !d.State.Serving() && cur.State.Serving():
		s.unserve(t, d.Name)
	}
	c := *d
	c.Token, c.CreatedAt = cur.Token, cur.CreatedAt
	c.Version++
	ds[i] = &c
	d.Version = c.Version
	return nil
}

// unserve drops name from t's serving domains.
func (s *Store) unserve(t *tenancy.Tenant, name string) {
	delete(s.domains, name)
	t.Domains = slices.DeleteFunc(slices.Clone(t.Domains), func(n string) bool { return n == name })
	t.Version++
}

// RemoveDomain implements tenancy.DomainStore.
func (s *Store) RemoveDomain(ctx context.Context, tenantID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.claims[tenantID]
	i := slices.IndexFunc(ds, func(c *tenancy.Domain) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
	}
	if ds[i].State.Serving() {
		s.unserve(s.tenants[tenantID], name)
	}
	s.claims[tenantID] = slices.Delete(ds, i, i+1)
	return nil
}

// usageKey is a tenancy.UsageKey with its start in Unix seconds, so that
// equal instants are equal keys.
type usageKey struct {
	tenantID, metric string
	period           tenancy.Period
	start            int64
}

func usageKeyOf(k tenancy.UsageKey) usageKey {
	return usageKey{k.TenantID, k.Metric, k.Period, k.Start.Unix()}
}

// AddUsage implements tenancy.UsageStore.
func (s *Store) AddUsage(_ context.Context, key tenancy.UsageKey, n, max int64) (int64, bool, error) {
	if err := tenancy.CheckUsageAdd(key, n, max); err != nil {
		return 0, false, fmt.Errorf("add usage: %w", err)
	}
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	total := s.usage[usageKeyOf(key)]
	if total == nil {
		total = new(int64)
		s.usage[usageKeyOf(key)] = total
	}
	if *total > max-n {
		return *total, false, nil
	}
	*total += n
	return *total, true, nil
}

// Usage implements tenancy.UsageStore.
func (s *Store) Usage(_ context.Context, key tenancy.UsageKey) (int64, error) {
	if err := key.Check(); err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if total := s.usage[usageKeyOf(key)]; total != nil {
		return *total, nil
	}
	return 0, nil
}
