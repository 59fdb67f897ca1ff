// Package memstore keeps gdpr's requests and legal holds in memory, for
// tests and examples. gdpr/sqlstore keeps the same in SQLite or
// PostgreSQL, shared by replicas and kept across restarts; a service
// whose holds must stop an erasure on every replica uses that.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/saaskit/saaskit/gdpr"
)

// Store is an in-memory gdpr.Store and gdpr.HoldStore. Its requests
// and holds are lost with the process and unseen by other replicas.
type Store struct {
	mu    sync.Mutex
	reqs  map[string]*gdpr.Request
	holds map[[2]string]gdpr.Hold // (tenant, subject key) -> hold
}

var (
	_ gdpr.Store     = (*Store)(nil)
	_ gdpr.HoldStore = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{reqs: map[string]*gdpr.Request{}, holds: map[[2]string]gdpr.Hold{}}
}

// Create implements gdpr.Store.
func (m *Store) Create(_ context.Context, r *gdpr.Request) error {
	if err := gdpr.CheckStorable(r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.reqs[r.ID]; ok {
		return fmt.Errorf("request %s: %w", r.ID, gdpr.ErrConflict)
	}
	r.Version = 1
	m.reqs[r.ID] = r.Clone()
	return nil
}

// Get implements gdpr.Store.
func (m *Store) Get(_ context.Context, tenantID, id string) (*gdpr.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok || r.TenantID != tenantID {
		return nil, fmt.Errorf("request %s: %w", id, gdpr.ErrNotFound)
	}
	return r.Clone(), nil
}

// Update implements gdpr.Store.
func (m *Store) Update(_ context.Context, r *gdpr.Request) error {
	if err := gdpr.CheckStorable(r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.reqs[r.ID]
	switch {
	case !ok || cur.TenantID != r.TenantID:
		return fmt.Errorf("request %s: %w", r.ID, gdpr.ErrNotFound)
	case cur.Version != r.Version:
		return fmt.Errorf("request %s: %w", r.ID, gdpr.ErrConflict)
	}
	r.Version++
	m.reqs[r.ID] = r.Clone()
	return nil
}

// List implements gdpr.Store.
func (m *Store) List(_ context.Context, tenantID string, f gdpr.RequestFilter) ([]*gdpr.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*gdpr.Request
	for _, r := range m.reqs {
		if r.TenantID != tenantID || (f.State != "" && r.State != f.State) || (!f.DueBefore.IsZero() && !r.DueAt.Before(f.DueBefore)) {
			continue
		}
		out = append(out, r.Clone())
	}
	slices.SortFunc(out, func(a, b *gdpr.Request) int { return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// PutHold implements gdpr.HoldStore.
func (m *Store) PutHold(_ context.Context, h gdpr.Hold) error {
	if err := h.Validate(); err != nil {
		return err
	}
	h.PlacedAt = h.PlacedAt.UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holds[[2]string{h.TenantID, h.SubjectKey}] = h
	return nil
}

// ReleaseHold implements gdpr.HoldStore.
func (m *Store) ReleaseHold(_ context.Context, tenantID, subjectKey string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{tenantID, subjectKey}
	if _, ok := m.holds[k]; !ok {
		return fmt.Errorf("legal hold of tenant %q, subject %q: %w", tenantID, subjectKey, gdpr.ErrNotFound)
	}
	delete(m.holds, k)
	return nil
}

// Holds implements gdpr.HoldStore.
func (m *Store) Holds(_ context.Context, tenantID string) ([]gdpr.Hold, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []gdpr.Hold
	for k, h := range m.holds {
		if k[0] == tenantID {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b gdpr.Hold) int { return cmp.Compare(a.SubjectKey, b.SubjectKey) })
	return out, nil
}
