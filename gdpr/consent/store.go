package consent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// Store keeps purposes, notices, events and each subject's current state.
// MemoryStore and gdpr/consent/sqlstore implement it; consenttest is its
// conformance suite. The Ledger validates every argument before a Store
// sees it, and every method is scoped to one tenant.
type Store interface {
	// SavePurpose creates p when p.Revision is 0, or else updates its
	// Description and Lifetime if p.Revision is current; then it
	// increments p.Revision. With notice non-nil it adds that notice to
	// the purpose in the same transaction. ErrConflict when p.Revision is
	// stale, when it is 0 and the purpose exists, or when the notice's
	// version and language are taken. p.Notices is ignored.
	SavePurpose(ctx context.Context, p *Purpose, notice *Notice) error
	// Purposes returns the tenant's purposes with their notices (by
	// version, then language), by key; when keys are given, only those
	// (unknown keys are left out).
	Purposes(ctx context.Context, tenantID string, keys ...string) ([]*Purpose, error)
	// Append stores e as the next event of its tenant, subject and
	// purpose, sets e.Seq, and makes e their current state, atomically:
	// concurrent appends for one subject and purpose are ordered, and the
	// current state is always the event with the highest Seq. When e.At
	// is before the current event's At (a write that lost a race, a clock
	// behind another process's), Append moves e.At up to it, so that
	// times never decrease along Seq.
	Append(ctx context.Context, e *Event) error
	// Events returns the subject's events that match f, by purpose, then
	// Seq.
	Events(ctx context.Context, tenantID, subject string, f EventFilter) ([]*Event, error)
	// EraseSubject moves the subject's events to pseudonym, clearing
	// their Proof and numbering them after any events pseudonym already
	// has, deletes the subject's current state, and returns how many
	// events it moved. Erasing a subject without events does nothing.
	EraseSubject(ctx context.Context, tenantID, subject, pseudonym string) (int, error)
}

// EventFilter selects a subject's events; the zero value selects all.
type EventFilter struct {
	// Purpose keeps the events of one purpose; "" keeps every purpose's.
	Purpose string
	// Current keeps, per purpose, only the event that set the current
	// state, read from the current-state records rather than by scanning
	// history.
	Current bool
}

// MemoryStore is an in-memory Store, for tests and single-process
// services; gdpr/consent/sqlstore keeps consents in a database.
type MemoryStore struct {
	mu       sync.Mutex
	purposes map[purposeKey]*Purpose // notices included
	events   map[streamKey][]*Event  // by Seq
	current  map[streamKey]int64     // the Seq of the current state
}

type purposeKey struct{ tenant, purpose string }

type streamKey struct{ tenant, subject, purpose string }

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{purposes: map[purposeKey]*Purpose{}, events: map[streamKey][]*Event{}, current: map[streamKey]int64{}}
}

// SavePurpose implements Store.
func (m *MemoryStore) SavePurpose(_ context.Context, p *Purpose, notice *Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := purposeKey{p.TenantID, p.Key}
	cur, ok := m.purposes[k]
	switch {
	case p.Revision == 0 && ok:
		return fmt.Errorf("purpose %q exists: %w", p.Key, ErrConflict)
	case p.Revision != 0 && (!ok || cur.Revision != p.Revision):
		return fmt.Errorf("purpose %q: revision %d is stale: %w", p.Key, p.Revision, ErrConflict)
	}
	next := &Purpose{TenantID: p.TenantID, Key: p.Key, Description: p.Description, Lifetime: p.Lifetime, Revision: p.Revision + 1}
	if ok {
		next.Notices = cur.Notices
	}
	if notice != nil {
		if next.notice(notice.Version, notice.Language) != nil {
			return fmt.Errorf("purpose %q: notice version %d (%s) exists: %w", p.Key, notice.Version, notice.Language, ErrConflict)
		}
		n := *notice
		next.Notices = append(slices.Clip(next.Notices), &n)
		sortNotices(next.Notices)
	}
	m.purposes[k] = next
	p.Revision = next.Revision
	return nil
}

// Purposes implements Store.
func (m *MemoryStore) Purposes(_ context.Context, tenantID string, keys ...string) ([]*Purpose, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Purpose
	for k, p := range m.purposes {
		if k.tenant == tenantID && (len(keys) == 0 || slices.Contains(keys, k.purpose)) {
			out = append(out, p.clone())
		}
	}
	slices.SortFunc(out, func(a, b *Purpose) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// Append implements Store.
func (m *MemoryStore) Append(_ context.Context, e *Event) error {
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

// Events implements Store.
func (m *MemoryStore) Events(_ context.Context, tenantID, subject string, f EventFilter) ([]*Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Event
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
	slices.SortFunc(out, func(a, b *Event) int { return cmp.Or(cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Seq, b.Seq)) })
	return out, nil
}

// EraseSubject implements Store.
func (m *MemoryStore) EraseSubject(_ context.Context, tenantID, subject, pseudonym string) (int, error) {
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
