// Package memstore keeps webhook endpoints and the delivery queue in
// memory: for tests, examples and single-process services that may lose
// pending deliveries when they stop.
package memstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/webhook"
)

// Store implements webhook.EndpointStore and webhook.Queue, with the
// optional webhook.SubjectQueue, StatsQueue, HistoryQueue, RetentionQueue
// and ResendQueue.
type Store struct {
	mu         sync.Mutex
	endpoints  map[string]*webhook.Endpoint // by ID
	deliveries map[string]*entry            // by delivery ID
	messages   map[[2]string]bool           // (tenant, message ID) enqueued
	live       int                          // pending deliveries
	seq        int64
	// ready holds the pending deliveries a claim may take, by (NextAt,
	// Seq); items made stale by a later change are dropped when met.
	ready readyHeap
	// ordered holds each ordered sequence's pending deliveries in Seq
	// order (finished ones are dropped from the front when met); only
	// the first is in ready, since it blocks the rest.
	ordered map[sequence][]*entry
}

// sequence is what an ordered delivery waits its turn in: its endpoint
// and its message's ordering key.
type sequence struct{ endpointID, orderingKey string }

func (en *entry) sequence() sequence {
	return sequence{en.d.EndpointID, en.d.Message.OrderingKey}
}

type entry struct {
	d        webhook.Delivery
	tenant   string
	ordered  bool
	attempts []webhook.Attempt
	gen      int // bumped by every change to when the entry is ready
}

// readyItem is an entry in ready as of its generation gen, keyed by its
// NextAt and Seq then: a stale item keeps its place in the heap.
type readyItem struct {
	at  time.Time
	seq int64
	en  *entry
	gen int
}

// readyHeap is a binary min-heap of items by (at, seq). It is written
// out rather than built on container/heap, whose any-typed Push and Pop
// would allocate for every item.
type readyHeap []readyItem

func (h readyHeap) less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}

func (h *readyHeap) push(it readyItem) {
	*h = append(*h, it)
	h.up(len(*h) - 1)
}

func (h *readyHeap) pop() readyItem {
	old := *h
	top, n := old[0], len(old)-1
	old[0] = old[n]
	old[n] = readyItem{}
	*h = old[:n]
	h.down(0)
	return top
}

func (h readyHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (h readyHeap) down(i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h.less(l, least) {
			least = l
		}
		if r < len(h) && h.less(r, least) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}

// init restores the heap order of all of h.
func (h readyHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

var (
	_ webhook.EndpointStore = (*Store)(nil)
	_ webhook.Queue         = (*Store)(nil)
	_ webhook.SubjectQueue  = (*Store)(nil)
	_ webhook.StatsQueue    = (*Store)(nil)
	_ webhook.HistoryQueue  = (*Store)(nil)
	_ webhook.BulkQueue     = (*Store)(nil)
	_ webhook.ResendQueue   = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{endpoints: map[string]*webhook.Endpoint{}, deliveries: map[string]*entry{}, messages: map[[2]string]bool{},
		ordered: map[sequence][]*entry{}}
}

func cloneEndpoint(e *webhook.Endpoint) *webhook.Endpoint {
	c := *e
	c.EventTypes, c.Channels = slices.Clone(e.EventTypes), slices.Clone(e.Channels)
	c.Secrets = make([][]byte, len(e.Secrets))
	for i, s := range e.Secrets {
		c.Secrets[i] = slices.Clone(s)
	}
	c.Metadata, c.Headers, c.Auth = maps.Clone(e.Metadata), maps.Clone(e.Headers), slices.Clone(e.Auth)
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
	return s.EnqueueMany(ctx, []webhook.Outgoing{{Message: msg, Endpoints: endpoints}})
}

// EnqueueMany implements webhook.BulkQueue: all the messages, or none
// when one's ID is taken (ErrConflict, naming it).
func (s *Store) EnqueueMany(ctx context.Context, out []webhook.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[[2]string]bool, len(out))
	for _, o := range out {
		key := [2]string{o.Message.TenantID, o.Message.ID}
		if s.messages[key] || seen[key] {
			return fmt.Errorf("message %s: %w", o.Message.ID, webhook.ErrConflict)
		}
		seen[key] = true
	}
	for _, o := range out {
		s.enqueue(o.Message, o.Endpoints)
	}
	return nil
}

// enqueue stores msg and its deliveries; s.mu is held.
func (s *Store) enqueue(msg *webhook.Message, endpoints []*webhook.Endpoint) {
	s.messages[[2]string{msg.TenantID, msg.ID}] = true
	m := *msg
	m.Payload, m.Channels = slices.Clone(msg.Payload), slices.Clone(msg.Channels)
	s.addDeliveries(&m, endpoints, msg.CreatedAt)
}

// addDeliveries adds a pending delivery of m to each endpoint, due at,
// and returns them; s.mu is held.
func (s *Store) addDeliveries(m *webhook.Message, endpoints []*webhook.Endpoint, at time.Time) []*entry {
	added := make([]*entry, 0, len(endpoints))
	for _, ep := range endpoints {
		s.seq++
		id := newID()
		en := &entry{
			tenant: m.TenantID, ordered: ep.Ordered,
			d: webhook.Delivery{ID: id, Message: m, EndpointID: ep.ID, State: webhook.StatePending,
				NextAt: at, Seq: s.seq, UpdatedAt: at},
		}
		s.deliveries[id] = en
		s.live++
		if en.ordered {
			s.ordered[en.sequence()] = append(s.ordered[en.sequence()], en)
		}
		s.schedule(en)
		added = append(added, en)
	}
	return added
}

// Messages implements webhook.ResendQueue.
func (s *Store) Messages(ctx context.Context, tenantID string, f webhook.MessageFilter) ([]*webhook.Message, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.keptMessages(tenantID, f.Matches)
	return out[:min(len(out), f.EffectiveLimit())], nil
}

// keptMessages returns copies of the tenant's messages that pass keep,
// by CreatedAt then ID; s.mu is held.
func (s *Store) keptMessages(tenantID string, keep func(*webhook.Message) bool) []*webhook.Message {
	seen := map[string]bool{}
	var out []*webhook.Message
	for _, en := range s.deliveries {
		m := en.d.Message
		if en.tenant == tenantID && !seen[m.ID] && keep(m) {
			seen[m.ID] = true
			c := *m
			c.Payload, c.Channels = slices.Clone(m.Payload), slices.Clone(m.Channels)
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Message) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Redeliver implements webhook.ResendQueue.
func (s *Store) Redeliver(ctx context.Context, tenantID, messageID string, endpoints []*webhook.Endpoint, at time.Time) ([]*webhook.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m *webhook.Message
	for _, en := range s.deliveries {
		if en.tenant == tenantID && en.d.Message.ID == messageID {
			m = en.d.Message
			break
		}
	}
	switch {
	case m == nil:
		return nil, fmt.Errorf("message %s: %w", messageID, webhook.ErrNotFound)
	case m.PayloadExpunged():
		return nil, fmt.Errorf("message %s: its payload has expired: %w", messageID, webhook.ErrConflict)
	}
	var out []*webhook.Delivery
	for _, en := range s.addDeliveries(m, endpoints, at) {
		d := en.d
		out = append(out, &d)
	}
	return out, nil
}

// schedule makes en's earlier items in ready stale and, if a claim may
// take en (pending and not blocked by an earlier ordered delivery),
// adds it anew, keyed by its NextAt.
func (s *Store) schedule(en *entry) {
	en.gen++
	if s.isPending(en) && (!en.ordered || s.isOrderedHead(en)) {
		s.ready.push(readyItem{at: en.d.NextAt, seq: en.d.Seq, en: en, gen: en.gen})
	}
	if len(s.ready) > 2*s.live+64 {
		s.compactReady()
	}
}

// isOrderedHead reports whether en is the first pending delivery of its
// ordered sequence.
func (s *Store) isOrderedHead(en *entry) bool { return s.orderedHead(en.sequence()) == en }

// orderedHead returns the first pending delivery of an ordered
// sequence, or nil, dropping finished ones from the front of its list.
func (s *Store) orderedHead(seq sequence) *entry {
	q := s.ordered[seq]
	for len(q) > 0 && !s.isPending(q[0]) {
		q[0] = nil
		q = q[1:]
	}
	if len(q) == 0 {
		delete(s.ordered, seq)
		return nil
	}
	s.ordered[seq] = q
	return q[0]
}

// unblock schedules the new first pending delivery of an ordered
// sequence whose first one finished.
func (s *Store) unblock(seq sequence) {
	if head := s.orderedHead(seq); head != nil {
		s.schedule(head)
	}
}

// compactReady drops the stale items from ready.
func (s *Store) compactReady() {
	kept := s.ready[:0]
	for _, it := range s.ready {
		if it.gen == it.en.gen && s.isPending(it.en) {
			kept = append(kept, it)
		}
	}
	clear(s.ready[len(kept):])
	s.ready = kept
	s.ready.init()
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "dlv_" + hex.EncodeToString(b)
}

// Claim implements webhook.Queue. It takes the due deliveries longest
// due first from a heap; leased ones and ones over their endpoint's
// share are put back after. So a backlog waiting out its backoff costs
// nothing, but one endpoint with thousands of due deliveries costs each
// claim a pass over them (sqlstore, which walks endpoints, does not).
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := map[string]int{}
	var out []*webhook.Delivery
	putBack := make([]readyItem, 0, min(max, 64))
	for len(out) < max && len(s.ready) > 0 && !s.ready[0].at.After(now) {
		it := s.ready.pop()
		en := it.en
		switch {
		case it.gen != en.gen || !s.isPending(en):
			continue // stale
		case en.ordered && !s.isOrderedHead(en):
			continue // scheduled again when it unblocks
		case en.d.LeaseUntil.After(now) || taken[en.d.EndpointID] >= perEndpoint:
			putBack = append(putBack, it)
			continue
		}
		taken[en.d.EndpointID]++
		en.d.LeaseToken = newID()
		en.d.LeaseUntil = now.Add(lease)
		putBack = append(putBack, it) // due again when the lease runs out
		d := en.d
		if e := s.endpoints[d.EndpointID]; e != nil {
			d.EndpointVersion = e.Version
		}
		out = append(out, &d)
	}
	for _, it := range putBack {
		s.ready.push(it)
	}
	return out, nil
}

func (s *Store) isPending(en *entry) bool {
	return en.d.State == webhook.StatePending && s.deliveries[en.d.ID] == en
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
		a.RequestHeaders, a.ResponseHeaders = maps.Clone(a.RequestHeaders), maps.Clone(a.ResponseHeaders)
		en.attempts = append(en.attempts, a)
		en.d.UpdatedAt = a.At
	}
	if d.State != webhook.StatePending {
		s.live--
	}
	en.d.State, en.d.NextAt, en.d.LastError, en.d.Attempts = d.State, d.NextAt, d.LastError, d.Attempts
	en.d.LeaseToken, en.d.LeaseUntil = "", time.Time{}
	s.schedule(en)
	if en.ordered && d.State != webhook.StatePending {
		s.unblock(en.sequence())
	}
	return nil
}

// Deliveries implements webhook.Queue.
func (s *Store) Deliveries(ctx context.Context, tenantID string, f webhook.DeliveryFilter) ([]*webhook.Delivery, error) {
	if !textfield.Storable(f.AfterID, f.EndpointID, f.MessageID) { // as the SQL queue, which cannot compare such text
		return nil, fmt.Errorf("%w: delivery filter: after, endpoint and message must be valid UTF-8 without NUL", webhook.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhook.Delivery
	for _, en := range s.deliveries {
		d := en.d
		if en.tenant != tenantID || f.EndpointID != "" && d.EndpointID != f.EndpointID || f.MessageID != "" && d.Message.ID != f.MessageID ||
			f.State != "" && d.State != f.State ||
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
	if en.ordered {
		// It takes its place by Seq, and blocks the later ones again.
		q := s.ordered[en.sequence()]
		i, found := slices.BinarySearchFunc(q, en.d.Seq, func(e *entry, seq int64) int { return cmp.Compare(e.d.Seq, seq) })
		if !found { // a dead entry behind a pending one is still listed
			s.ordered[en.sequence()] = slices.Insert(q, i, en)
		}
	}
	s.schedule(en)
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
	return s.keptMessages(tenantID, func(m *webhook.Message) bool { return m.Subject == subject }), nil
}

// EraseSubject implements webhook.SubjectQueue.
func (s *Store) EraseSubject(ctx context.Context, tenantID, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	erased := map[string]bool{}
	blocked := map[sequence]bool{} // sequences whose first delivery may be gone
	for id, en := range s.deliveries {
		if en.tenant == tenantID && en.d.Message.Subject == subject {
			erased[en.d.Message.ID] = true
			if en.d.State == webhook.StatePending {
				s.live--
			}
			delete(s.deliveries, id)
			if en.ordered {
				blocked[en.sequence()] = true
			}
		}
	}
	for seq := range blocked {
		s.unblock(seq)
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

// AttemptHistory implements webhook.HistoryQueue.
func (s *Store) AttemptHistory(ctx context.Context, tenantID string, w webhook.AttemptWindow) ([]webhook.AttemptBucket, error) {
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("attempt history: %w", err)
	}
	s.mu.Lock()
	var attempts []webhook.Attempt
	for _, en := range s.deliveries {
		if en.tenant == tenantID && (w.EndpointID == "" || en.d.EndpointID == w.EndpointID) {
			attempts = append(attempts, en.attempts...)
		}
	}
	s.mu.Unlock()
	return webhook.BucketAttempts(w, attempts), nil
}
