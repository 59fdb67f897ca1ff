// Package memstore keeps a consent ledger in memory, for tests and
// single-process services. gdpr/consent/sqlstore keeps it in SQLite or
// PostgreSQL, shared by replicas and kept across restarts.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/saaskit/saaskit/gdpr/consent"
)

// Store is an in-memory consent.Store, for tests and single-process
// services: its ledger is lost with the process and unseen by other
// replicas.
type Store struct {
	mu       sync.Mutex
	purposes map[purposeKey]*consent.Purpose // notices included
	events   map[streamKey][]*consent.Event  // by Seq
	current  map[streamKey]int64             // the Seq of the current state
}

type purposeKey struct{ tenant, purpose string }

type streamKey struct{ tenant, subject, purpose string }

var _ consent.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{purposes: map[purposeKey]*consent.Purpose{}, events: map[streamKey][]*consent.Event{}, current: map[streamKey]int64{}}
}

// SavePurpose implements consent.Store.
func (m *Store) SavePurpose(_ context.Context, p *consent.Purpose, notice *consent.Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := purposeKey{p.TenantID, p.Key}
	cur, ok := m.purposes[k]
	switch {
	case p.Revision == 0 && ok:
		return fmt.Errorf("purpose %q exists: %w", p.Key, consent.ErrConflict)
	case p.Revision != 0 && (!ok || cur.Revision != p.Revision):
		return fmt.Errorf("purpose %q: revision %d is stale: %w", p.Key, p.Revision, consent.ErrConflict)
	}
	next := &consent.Purpose{TenantID: p.TenantID, Key: p.Key, Description: p.Description, Lifetime: p.Lifetime, Revision: p.Revision + 1}
	if ok {
		next.Notices = cur.Notices
	}
	if notice != nil {
		if next.Notice(notice.Version, notice.Language) != nil {
			return fmt.Errorf("purpose %q: notice version %d (%s) exists: %w", p.Key, notice.Version, notice.Language, consent.ErrConflict)
		}
		n := *notice
		next.Notices = append(slices.Clip(next.Notices), &n)
		slices.SortFunc(next.Notices, func(a, b *consent.Notice) int {
			return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.Language, b.Language))
		})
	}
	m.purposes[k] = next
	p.Revision = next.Revision
	return nil
}

// Purposes implements consent.Store.
func (m *Store) Purposes(_ context.Context, tenantID string, keys ...string) ([]*consent.Purpose, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*consent.Purpose
	for k, p := range m.purposes {
		if k.tenant == tenantID && (len(keys) == 0 || slices.Contains(keys, k.purpose)) {
			out = append(out, p.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *consent.Purpose) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// Append implements consent.Store.
func (m *Store) Append(_ context.Context, e *consent.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := streamKey{e.TenantID, e.Subject, e.Purpose}
	evs := m.events[k]
	if seq, ok := m.current[k]; ok && e.At.Before(evs[seq-1].At) {
		e.At = evs[seq-1].At
	}
	c := *e
	c.Seq = int64(len(evs)) + 1
	m.events[k] = append(evs, &c)
	m.current[k] = c.Seq
	e.Seq = c.Seq
	return nil
}

// Events implements consent.Store.
func (m *Store) Events(_ context.Context, tenantID, subject string, f consent.EventFilter) ([]*consent.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*consent.Event
	for k, evs := range m.events {
		if k.tenant != tenantID || k.subject != subject || (f.Purpose != "" && k.purpose != f.Purpose) {
			continue
		}
		if f.Current {
			seq, ok := m.current[k]
			if !ok {
				continue
			}
			evs = evs[seq-1 : seq]
		}
		for _, e := range evs {
			c := *e
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *consent.Event) int {
		return cmp.Or(cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

// EraseSubject implements consent.Store.
func (m *Store) EraseSubject(_ context.Context, tenantID, subject, pseudonym string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var from []streamKey
	for k := range m.events {
		if k.tenant == tenantID && k.subject == subject {
			from = append(from, k)
		}
	}
	n := 0
	for _, k := range from {
		to := streamKey{tenantID, pseudonym, k.purpose}
		moved := m.events[to]
		for _, e := range m.events[k] {
			c := *e
			c.Subject, c.Proof, c.Seq = pseudonym, "", int64(len(moved))+1
			moved = append(moved, &c)
			n++
		}
		m.events[to] = moved
		delete(m.events, k)
		delete(m.current, k)
	}
	return n, nil
}
