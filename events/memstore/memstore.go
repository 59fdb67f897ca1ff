// Package memstore keeps an events outbox, a broker stream and consumer
// inboxes in memory, for tests and single-process demos. Nothing
// outlives the process.
//
//	store := memstore.New()
//	stream := memstore.NewStream()
//	relay, _ := events.NewRelay(store, stream, events.RelayOptions{})
//	_ = store.Append(ctx, &events.Event{TenantID: "acme", Type: "user.created", Payload: body})
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/saaskit/saaskit/events"
)

// Store is an in-memory events.Store.
type Store struct {
	mu       sync.Mutex
	pending  [events.Lanes][]*events.Event
	leases   [events.Lanes]lease
	aggSeq   map[string]int64
	ids      map[string]bool
	relayed  int
	appended int
}

type lease struct {
	token string
	until time.Time
}

var _ events.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{aggSeq: map[string]int64{}, ids: map[string]bool{}}
}

// Append implements events.Store: all events or none.
func (s *Store) Append(ctx context.Context, evs ...*events.Event) error {
	now := time.Now()
	for _, e := range evs {
		if err := events.Prepare(ctx, e, now); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range evs {
		if s.ids[e.ID] || seen[e.ID] {
			return &duplicateError{e.ID}
		}
		seen[e.ID] = true
	}
	for _, e := range evs {
		k := e.TenantID + "\x00" + e.AggregateKey
		s.aggSeq[k]++
		e.AggregateSeq = s.aggSeq[k]
		s.ids[e.ID] = true
		c := clone(e)
		lane := events.Lane(e.TenantID, e.AggregateKey)
		s.pending[lane] = append(s.pending[lane], c)
		s.appended++
	}
	return nil
}

type duplicateError struct{ id string }

func (e *duplicateError) Error() string { return "events memstore: event " + e.id + " exists" }
func (e *duplicateError) Unwrap() error { return events.ErrInvalid }

// Claim implements events.Store.
func (s *Store) Claim(ctx context.Context, now time.Time, leaseFor time.Duration, max int) (*events.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for l := range events.Lanes {
		if len(s.pending[l]) == 0 || s.leases[l].until.After(now) {
			continue
		}
		if best < 0 || s.leases[l].until.Before(s.leases[best].until) {
			best = l
		}
	}
	if best < 0 {
		return nil, nil
	}
	tok := events.NewID()
	s.leases[best] = lease{token: tok, until: now.Add(leaseFor)}
	q := s.pending[best]
	out := make([]*events.Event, 0, min(max, len(q)))
	for _, e := range q[:min(max, len(q))] {
		out = append(out, clone(e))
	}
	return &events.Batch{Lane: best, Token: tok, Events: out}, nil
}

// Complete implements events.Store.
func (s *Store) Complete(ctx context.Context, b *events.Batch, relayed []string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := map[string]bool{}
	for _, id := range relayed {
		done[id] = true
	}
	before := len(s.pending[b.Lane])
	s.pending[b.Lane] = slices.DeleteFunc(s.pending[b.Lane], func(e *events.Event) bool { return done[e.ID] })
	s.relayed += before - len(s.pending[b.Lane])
	if s.leases[b.Lane].token == b.Token {
		s.leases[b.Lane] = lease{until: now}
	}
	return nil
}

// Pending returns how many events wait to be relayed.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended - s.relayed
}

func clone(e *events.Event) *events.Event {
	c := *e
	c.Payload = slices.Clone(e.Payload)
	if e.Trace != nil {
		c.Trace = make(map[string]string, len(e.Trace))
		for k, v := range e.Trace {
			c.Trace[k] = v
		}
	}
	return &c
}
