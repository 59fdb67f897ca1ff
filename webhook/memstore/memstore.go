// Package memstore keeps webhook endpoints and the delivery queue in
// memory: for tests, examples and single-process services that may lose
// pending deliveries when they stop.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// Store implements webhook.EndpointStore and webhook.Queue.
type Store struct {
	mu         sync.Mutex
	endpoints  map[string]*webhook.Endpoint // by ID
	deliveries map[string]*entry            // by delivery ID
	pending    []*entry                     // pending deliveries by Seq; others are dropped lazily
	messages   map[[2]string]bool           // (tenant, message ID) enqueued
	live       int                          // pending deliveries
	seq        int64
}

type entry struct {
	d        webhook.Delivery
	tenant   string
	ordered  bool
	attempts []webhook.Attempt
}

var (
	_ webhook.EndpointStore = (*Store)(nil)
	_ webhook.Queue         = (*Store)(nil)
	_ webhook.SubjectQueue  = (*Store)(nil)
	_ webhook.StatsQueue    = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{endpoints: map[string]*webhook.Endpoint{}, deliveries: map[string]*entry{}, messages: map[[2]string]bool{}}
}

func cloneEndpoint(e *webhook.Endpoint) *webhook.Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.Secrets = make([][]byte, len(e.Secrets))
	for i, s := range e.Secrets {
		c.Secrets[i] = slices.Clone(s)
	}
	c.Metadata = maps.Clone(e.Metadata)
	return &c
}

// CreateEndpoint implements webhook.EndpointStore.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[e.ID]; ok {
		return fmt.Errorf("endpoint %s: %w", e.ID, webhook.ErrConflict)
	}
	c := cloneEndpoint(e)
	c.Version = 1
	s.endpoints[e.ID] = c
	e.Version = 1
	return nil
}

func (s *Store) endpoint(tenantID, id string) (*webhook.Endpoint, error) {
	e, ok := s.endpoints[id]
	if !ok || e.TenantID != tenantID {
		return nil, fmt.Errorf("endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return e, nil
}

// GetEndpoint implements webhook.EndpointStore.
func (s *Store) GetEndpoint(ctx context.Context, tenantID, id string) (*webhook.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.endpoint(tenantID, id)
	if err != nil {
		return nil, err
	}
	return cloneEndpoint(e), nil
}

// ListEndpoints implements webhook.EndpointStore.
func (s *Store) ListEndpoints(ctx context.Context, tenantID string) ([]*webhook.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhook.Endpoint
	for _, e := range s.endpoints {
		if e.TenantID == tenantID {
			out = append(out, cloneEndpoint(e))
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Endpoint) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateEndpoint implements webhook.EndpointStore.
func (s *Store) UpdateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.endpoint(e.TenantID, e.ID)
	if err != nil {
		return err
	}
	if cur.Version != e.Version {
		return fmt.Errorf("endpoint %s version %d is stale: %w", e.ID, e.Version, webhook.ErrConflict)
	}
	c := cloneEndpoint(e)
	c.Version++
	c.CreatedAt = cur.CreatedAt
	s.endpoints[e.ID] = c
	e.Version = c.Version
	return nil
}

// DeleteEndpoint implements webhook.EndpointStore.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.endpoint(tenantID, id); err != nil {
		return err
	}
	delete(s.endpoints, id)
	return nil
}

// Enqueue implements webhook.Queue.
func (s *Store) Enqueue(ctx context.Context, msg *webhook.Message, endpoints []*webhook.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{msg.TenantID, msg.ID}
	if s.messages[key] {
		return fmt.Errorf("message %s: %w", msg.ID, webhook.ErrConflict)
	}
	s.messages[key] = true
	m := *msg
	m.Payload = slices.Clone(msg.Payload)
	for _, ep := range endpoints {
		s.seq++
		id := newID()
		en := &entry{
			tenant: msg.TenantID, ordered: ep.Ordered,
			d: webhook.Delivery{ID: id, Message: &m, EndpointID: ep.ID, State: webhook.StatePending,
				NextAt: msg.CreatedAt, Seq: s.seq, UpdatedAt: msg.CreatedAt},
		}
		s.deliveries[id] = en
		s.pending = append(s.pending, en)
		s.live++
	}
	return nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "dlv_" + hex.EncodeToString(b)
}

// Claim implements webhook.Queue. It walks the pending deliveries in
// order; ones no longer pending are dropped from the front at once and
// from the middle when they make up half of the list.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compact()
	blocked := map[string]bool{} // ordered endpoints with an earlier pending delivery
	taken := map[string]int{}
	var out []*webhook.Delivery
	for _, en := range s.pending {
		if len(out) == max {
			break
		}
		if !s.isPending(en) {
			continue
		}
		if en.ordered && blocked[en.d.EndpointID] {
			continue
		}
		if en.ordered {
			blocked[en.d.EndpointID] = true
		}
		if en.d.NextAt.After(now) || en.d.LeaseUntil.After(now) || taken[en.d.EndpointID] >= perEndpoint {
			continue
		}
		taken[en.d.EndpointID]++
		en.d.LeaseToken = newID()
		en.d.LeaseUntil = now.Add(lease)
		d := en.d
		out = append(out, &d)
	}
	return out, nil
}

func (s *Store) isPending(en *entry) bool {
	return en.d.State == webhook.StatePending && s.deliveries[en.d.ID] == en
}

// compact drops finished deliveries from the pending list: from the
// front always, everywhere once they are half of it.
func (s *Store) compact() {
	for len(s.pending) > 0 && !s.isPending(s.pending[0]) {
		s.pending[0] = nil
		s.pending = s.pending[1:]
	}
	if len(s.pending) < 2*s.live+64 {
		return
	}
	kept := make([]*entry, 0, s.live)
	for _, en := range s.pending {
		if s.isPending(en) {
			kept = append(kept, en)
		}
	}
	s.pending = kept
}

// Complete implements webhook.Queue.
func (s *Store) Complete(ctx context.Context, d *webhook.Delivery, a webhook.Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.deliveries[d.ID]
	if !ok {
		return fmt.Errorf("delivery %s: %w", d.ID, webhook.ErrNotFound)
	}
	if en.d.LeaseToken != d.LeaseToken || en.d.State != webhook.StatePending {
		return fmt.Errorf("delivery %s: lease lost: %w", d.ID, webhook.ErrConflict)
	}
	if !a.At.IsZero() {
		a.Response = slices.Clone(a.Response)
		en.attempts = append(en.attempts, a)
		en.d.UpdatedAt = a.At
	}
	if d.State != webhook.StatePending {
		s.live--
	}
	en.d.State, en.d.NextAt, en.d.LastError, en.d.Attempts = d.State, d.NextAt, d.LastError, d.Attempts
	en.d.LeaseToken, en.d.LeaseUntil = "", time.Time{}
	return nil
}

// Deliveries implements webhook.Queue.
func (s *Store) Deliveries(ctx context.Context, tenantID string, f webhook.DeliveryFilter) ([]*webhook.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhook.Delivery
	for _, en := range s.deliveries {
		d := en.d
		if en.tenant != tenantID || f.EndpointID != "" && d.EndpointID != f.EndpointID || f.State != "" && d.State != f.State ||
			!f.Since.IsZero() && d.UpdatedAt.Before(f.Since) || !f.Until.IsZero() && !d.UpdatedAt.Before(f.Until) || d.ID <= f.AfterID {
			continue
		}
		out = append(out, &d)
	}
	slices.SortFunc(out, func(a, b *webhook.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(len(out), f.EffectiveLimit())], nil
}

// Requeue implements webhook.Queue.
func (s *Store) Requeue(ctx context.Context, tenantID, deliveryID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.deliveries[deliveryID]
	if !ok || en.tenant != tenantID {
		return fmt.Errorf("delivery %s: %w", deliveryID, webhook.ErrNotFound)
	}
	if en.d.State != webhook.StateDead {
		return fmt.Errorf("delivery %s is %s, not dead: %w", deliveryID, en.d.State, webhook.ErrConflict)
	}
	en.d.State, en.d.NextAt, en.d.UpdatedAt = webhook.StatePending, at, at
	s.live++
	i, _ := slices.BinarySearchFunc(s.pending, en.d.Seq, func(e *entry, seq int64) int { return int(e.d.Seq - seq) })
	s.pending = slices.Insert(s.pending, i, en)
	return nil
}

// Attempts implements webhook.Queue.
func (s *Store) Attempts(ctx context.Context, tenantID, deliveryID string) ([]webhook.Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.deliveries[deliveryID]
	if !ok || en.tenant != tenantID {
		return nil, fmt.Errorf("delivery %s: %w", deliveryID, webhook.ErrNotFound)
	}
	return slices.Clone(en.attempts), nil
}

// SubjectMessages implements webhook.SubjectQueue.
func (s *Store) SubjectMessages(ctx context.Context, tenantID, subject string) ([]*webhook.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []*webhook.Message
	for _, en := range s.deliveries {
		m := en.d.Message
		if en.tenant == tenantID && m.Subject == subject && !seen[m.ID] {
			seen[m.ID] = true
			c := *m
			c.Payload = slices.Clone(m.Payload)
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Message) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// EraseSubject implements webhook.SubjectQueue.
func (s *Store) EraseSubject(ctx context.Context, tenantID, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	erased := map[string]bool{}
	for id, en := range s.deliveries {
		if en.tenant == tenantID && en.d.Message.Subject == subject {
			erased[en.d.Message.ID] = true
			if en.d.State == webhook.StatePending {
				s.live--
			}
			delete(s.deliveries, id)
		}
	}
	for id := range erased {
		delete(s.messages, [2]string{tenantID, id})
	}
	return len(erased), nil
}

// Stats implements webhook.StatsQueue.
func (s *Store) Stats(ctx context.Context, now time.Time) (webhook.QueueStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st webhook.QueueStats
	for _, en := range s.deliveries {
		switch {
		case en.d.State == webhook.StateDead:
			st.Dead++
		case en.d.State != webhook.StatePending:
		case en.d.NextAt.After(now):
			st.Scheduled++
		default:
			st.Due++
			if st.OldestDue.IsZero() || en.d.NextAt.Before(st.OldestDue) {
				st.OldestDue = en.d.NextAt
			}
		}
	}
	return st, nil
}
