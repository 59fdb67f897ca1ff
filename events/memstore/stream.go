package memstore

import (
	"context"
	"sync"

	"github.com/saaskit/saaskit/events"
)

// Stream is an in-memory broker stream and events.Publisher: it keeps
// every event it accepts in order and, like JetStream's duplicate
// window (here without end), accepts an ID a second time without
// storing it again.
type Stream struct {
	mu   sync.Mutex
	evs  []*events.Event
	ids  map[string]bool
	dups int
	// Fail, when set, is asked before each event is accepted; an error
	// it returns is the event's (for tests of broker failures).
	Fail func(e *events.Event) error
}

var _ events.Publisher = (*Stream)(nil)

// NewStream returns an empty stream.
func NewStream() *Stream { return &Stream{ids: map[string]bool{}} }

// Publish implements events.Publisher.
func (s *Stream) Publish(ctx context.Context, evs []*events.Event) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(evs))
	for i, e := range evs {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if s.Fail != nil {
			if err := s.Fail(e); err != nil {
				errs[i] = err
				continue
			}
		}
		if s.ids[e.ID] {
			s.dups++
			continue
		}
		s.ids[e.ID] = true
		s.evs = append(s.evs, clone(e))
	}
	return errs
}

// Events returns copies of the accepted events, in the stream's order.
func (s *Stream) Events() []*events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*events.Event, len(s.evs))
	for i, e := range s.evs {
		out[i] = clone(e)
	}
	return out
}

// Duplicates returns how many publishes repeated an accepted ID.
func (s *Stream) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}
