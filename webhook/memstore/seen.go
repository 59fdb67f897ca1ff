package memstore

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

var _ webhook.SeenStore = (*Seen)(nil)

// Seen is an in-memory webhook.SeenStore for one process. It forgets ids
// once their time is up, and holds at most its limit of ids: past it,
// MarkSeen refuses new ids rather than forget ones still in their window.
// Expired ids leave through a heap ordered by expiry, so MarkSeen costs
// O(log n) however full the store is.
type Seen struct {
	mu     sync.Mutex
	until  map[string]time.Time
	expiry seenHeap // every id in until, plus stale entries skipped on pop
	limit  int
	now    func() time.Time
}

type seenEntry struct {
	id    string
	until time.Time
}

// seenHeap is a min-heap of entries by expiry (container/heap).
type seenHeap []seenEntry

func (h seenHeap) Len() int           { return len(h) }
func (h seenHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h seenHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seenHeap) Push(x any)        { *h = append(*h, x.(seenEntry)) }
func (h *seenHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// SeenOptions configure a Seen. The zero value is a sensible default.
type SeenOptions struct {
	// Limit is how many ids it holds at most. Default 1,000,000.
	Limit int
	// Now is the clock that decides whether an id's time is up. Default
	// time.Now.
	Now func() time.Time
}

// NewSeen returns an empty Seen.
func NewSeen(opts SeenOptions) *Seen {
	if opts.Limit <= 0 {
		opts.Limit = 1_000_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Seen{until: map[string]time.Time{}, limit: opts.Limit, now: opts.Now}
}

// errSeenFull: the store is at its limit with ids still in their window.
var errSeenFull = errors.New("webhook memstore: replay store full")

// Forget implements webhook.SeenStore.
func (m *Seen) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.until, id)
	return nil
}

// MarkSeen implements webhook.SeenStore.
func (m *Seen) MarkSeen(_ context.Context, id string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	if t, ok := m.until[id]; ok && now.Before(t) {
		return false, nil
	}
	if len(m.until) >= m.limit {
		return false, errSeenFull
	}
	m.until[id] = until
	heap.Push(&m.expiry, seenEntry{id, until})
	if len(m.expiry) > 2*m.limit { // mostly stale entries of forgotten ids
		m.expiry = m.expiry[:0]
		for id, t := range m.until {
			m.expiry = append(m.expiry, seenEntry{id, t})
		}
		heap.Init(&m.expiry)
	}
	return true, nil
}

// expire drops the ids whose time is up.
func (m *Seen) expire(now time.Time) {
	for len(m.expiry) > 0 && !now.Before(m.expiry[0].until) {
		e := heap.Pop(&m.expiry).(seenEntry)
		if t, ok := m.until[e.id]; ok && t.Equal(e.until) {
			delete(m.until, e.id)
		}
	}
}
