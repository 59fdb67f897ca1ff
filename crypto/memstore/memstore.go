// Package memstore keeps crypto key records and tombstones in memory:
// for tests and examples. Keys kept here vanish with the process, and
// so does every ciphertext's meaning.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	skcrypto "github.com/saaskit/saaskit/crypto"
)

// Store implements crypto.KeyStore and crypto.Tombstones.
type Store struct {
	mu      sync.RWMutex
	records map[recordKey]*skcrypto.KeyRecord
	graves  map[recordKey]skcrypto.Tombstone
}

type recordKey struct{ tenant, id string }

var (
	_ skcrypto.KeyStore   = (*Store)(nil)
	_ skcrypto.Tombstones = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{records: map[recordKey]*skcrypto.KeyRecord{}, graves: map[recordKey]skcrypto.Tombstone{}}
}

func clone(r *skcrypto.KeyRecord) *skcrypto.KeyRecord {
	c := *r
	c.Material = slices.Clone(r.Material)
	c.Meta = slices.Clone(r.Meta)
	return &c
}

// Create implements crypto.KeyStore.
func (s *Store) Create(ctx context.Context, r *skcrypto.KeyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := recordKey{r.TenantID, r.ID}
	if _, ok := s.records[k]; ok {
		return fmt.Errorf("key %s of tenant %s: %w", r.ID, r.TenantID, skcrypto.ErrConflict)
	}
	c := clone(r)
	c.Version = 1
	s.records[k] = c
	r.Version = 1
	return nil
}

// Get implements crypto.KeyStore.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*skcrypto.KeyRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.records[recordKey{tenantID, id}]
	if !ok {
		return nil, fmt.Errorf("key %s of tenant %s: %w", id, tenantID, skcrypto.ErrNotFound)
	}
	return clone(r), nil
}

// Update implements crypto.KeyStore.
func (s *Store) Update(ctx context.Context, r *skcrypto.KeyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.records[recordKey{r.TenantID, r.ID}]
	if !ok {
		return fmt.Errorf("key %s of tenant %s: %w", r.ID, r.TenantID, skcrypto.ErrNotFound)
	}
	if cur.Version != r.Version {
		return fmt.Errorf("key %s of tenant %s version %d is stale: %w", r.ID, r.TenantID, r.Version, skcrypto.ErrConflict)
	}
	cur.Material, cur.WrappedBy, cur.Meta = slices.Clone(r.Material), r.WrappedBy, slices.Clone(r.Meta)
	cur.Version++
	r.Version = cur.Version
	return nil
}

// List implements crypto.KeyStore.
func (s *Store) List(ctx context.Context, tenantID string, f skcrypto.Filter) ([]*skcrypto.KeyRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []recordKey
	for k, r := range s.records {
		if k.tenant == tenantID && (f.Kind == "" || r.Kind == f.Kind) && (!f.SubjectSet || r.Subject == f.Subject) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b recordKey) int {
		ra, rb := s.records[a], s.records[b]
		if c := ra.CreatedAt.Compare(rb.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]*skcrypto.KeyRecord, len(keys))
	for i, k := range keys {
		out[i] = clone(s.records[k])
	}
	return out, nil
}

// Delete implements crypto.KeyStore.
func (s *Store) Delete(ctx context.Context, tenantID string, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.records, recordKey{tenantID, id})
	}
	return nil
}

// Bury implements crypto.Tombstones.
func (s *Store) Bury(ctx context.Context, ts []skcrypto.Tombstone) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		if _, ok := s.graves[recordKey{t.TenantID, t.KeyID}]; !ok {
			s.graves[recordKey{t.TenantID, t.KeyID}] = t
		}
	}
	return nil
}

// Buried implements crypto.Tombstones.
func (s *Store) Buried(ctx context.Context, tenantID, keyID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, key := s.graves[recordKey{tenantID, keyID}]
	_, tenant := s.graves[recordKey{tenantID, "kek"}]
	return key || tenant, nil
}
