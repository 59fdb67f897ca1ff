// Package memstore keeps audit trails in memory, for tests and
// single-process services. gdpr/audit/sqlstore keeps them in SQLite or
// PostgreSQL, shared by replicas and kept across restarts.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/saaskit/saaskit/gdpr/audit"
)

// Store is an in-memory audit.Store, for tests and single-process
// services: its trails are lost with the process.
type Store struct {
	mu     sync.RWMutex
	chains map[string][]audit.Record // by tenant, in Seq order
}

var _ audit.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{chains: map[string][]audit.Record{}} }

// Append implements audit.Store.
func (m *Store) Append(_ context.Context, r audit.Record) error {
	if r.Seq == 0 {
		return fmt.Errorf("%w: Seq: must be at least 1", audit.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	chain := m.chains[r.TenantID]
	lastSeq, lastHash := uint64(0), audit.ZeroHash
	if n := len(chain); n > 0 {
		lastSeq, lastHash = chain[n-1].Seq, chain[n-1].Hash
	}
	if r.Seq != lastSeq+1 || r.PrevHash != lastHash {
		return fmt.Errorf("tenant %s: record %d does not follow record %d: %w", r.TenantID, r.Seq, lastSeq, audit.ErrConflict)
	}
	m.chains[r.TenantID] = append(chain, r.Clone())
	return nil
}

// List implements audit.Store.
func (m *Store) List(_ context.Context, tenantID string, afterSeq uint64, limit int) ([]audit.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit: must be positive, is %d", audit.ErrInvalid, limit)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	chain := m.chains[tenantID]
	i := sort.Search(len(chain), func(i int) bool { return chain[i].Seq > afterSeq })
	chain = chain[i:min(len(chain), i+limit)]
	out := make([]audit.Record, len(chain))
	for i, r := range chain {
		out[i] = r.Clone()
	}
	return out, nil
}

// Last implements audit.Store.
func (m *Store) Last(_ context.Context, tenantID string) (audit.Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	chain := m.chains[tenantID]
	if len(chain) == 0 {
		return audit.Record{}, fmt.Errorf("tenant %s: no records: %w", tenantID, audit.ErrNotFound)
	}
	return chain[len(chain)-1].Clone(), nil
}
