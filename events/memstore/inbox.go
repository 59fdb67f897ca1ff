package memstore

import (
	"context"
	"sync"

	"github.com/saaskit/saaskit/events"
)

// Inbox is an in-memory events.Inbox. It runs handlers outside any
// transaction (events.Tx returns nil) and one at a time per consumer
// and aggregate.
type Inbox struct {
	mu   sync.Mutex
	last map[string]int64 // consumer, tenant, aggregate → last handled seq
	busy map[string]*sync.Mutex
}

var _ events.Inbox = (*Inbox)(nil)

// NewInbox returns an empty inbox.
func NewInbox() *Inbox {
	return &Inbox{last: map[string]int64{}, busy: map[string]*sync.Mutex{}}
}

// Process implements events.Inbox.
func (in *Inbox) Process(ctx context.Context, consumer string, e *events.Event, h events.Handler) (events.Outcome, error) {
	agg, seq := events.InboxKey(e)
	k := consumer + "\x00" + e.TenantID + "\x00" + agg
	in.mu.Lock()
	lock, ok := in.busy[k]
	if !ok {
		lock = &sync.Mutex{}
		in.busy[k] = lock
	}
	in.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	in.mu.Lock()
	last := in.last[k]
	in.mu.Unlock()
	switch {
	case seq <= last:
		return events.Duplicate, nil
	case seq > last+1 && h != nil:
		return events.Early, nil
	}
	if h != nil {
		if err := h(ctx, e); err != nil {
			return 0, err
		}
	}
	in.mu.Lock()
	in.last[k] = seq
	in.mu.Unlock()
	return events.Handled, nil
}
