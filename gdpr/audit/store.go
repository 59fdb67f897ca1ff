package audit

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Store keeps the trails of all tenants. MemoryStore and
// gdpr/audit/sqlstore implement it; audittest is its conformance suite.
// A Store only appends: it never updates or deletes a record. The Trail
// validates and hashes every record before a Store sees it, and every
// method is scoped to one tenant.
type Store interface {
	// Append stores r as the next record of r.TenantID if the tenant's
	// chain still ends where r says: at record r.Seq-1 with hash
	// r.PrevHash, or, for r.Seq 1, nowhere (r.PrevHash is ZeroHash).
	// Otherwise, in particular when another record took r.Seq first, it
	// stores nothing and returns ErrConflict; two appenders can never
	// both extend the chain from the same record. r.Seq 0 is ErrInvalid.
	Append(ctx context.Context, r Record) error
	// List returns up to limit (> 0) of the tenant's records with Seq
	// greater than afterSeq, in Seq order.
	List(ctx context.Context, tenantID string, afterSeq uint64, limit int) ([]Record, error)
	// Last returns the tenant's record with the highest Seq, or
	// ErrNotFound when the tenant has none.
	Last(ctx context.Context, tenantID string) (Record, error)
}

// MemoryStore is an in-memory Store, for tests and single-process
// services; gdpr/audit/sqlstore keeps trails in a database.
type MemoryStore struct {
	mu     sync.RWMutex
	chains map[string][]Record // by tenant, in Seq order
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{chains: map[string][]Record{}} }

// Append implements Store.
func (m *MemoryStore) Append(_ context.Context, r Record) error {
	if r.Seq == 0 {
		return invalid("Seq: must be at least 1")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	chain := m.chains[r.TenantID]
	lastSeq, lastHash := uint64(0), ZeroHash
	if n := len(chain); n > 0 {
		lastSeq, lastHash = chain[n-1].Seq, chain[n-1].Hash
	}
	if r.Seq != lastSeq+1 || r.PrevHash != lastHash {
		return fmt.Errorf("tenant %s: record %d does not follow record %d: %w", r.TenantID, r.Seq, lastSeq, ErrConflict)
	}
	m.chains[r.TenantID] = append(chain, r.clone())
	return nil
}

// List implements Store.
func (m *MemoryStore) List(_ context.Context, tenantID string, afterSeq uint64, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, invalid("limit: must be positive, is %d", limit)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	chain := m.chains[tenantID]
	i := sort.Search(len(chain), func(i int) bool { return chain[i].Seq > afterSeq })
	chain = chain[i:min(len(chain), i+limit)]
	out := make([]Record, len(chain))
	for i, r := range chain {
		out[i] = r.clone()
	}
	return out, nil
}

// Last implements Store.
func (m *MemoryStore) Last(_ context.Context, tenantID string) (Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	chain := m.chains[tenantID]
	if len(chain) == 0 {
		return Record{}, fmt.Errorf("tenant %s: no records: %w", tenantID, ErrNotFound)
	}
	return chain[len(chain)-1].clone(), nil
}
