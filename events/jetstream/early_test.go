package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/await"
)

// handledLog records what a test handler ran, in order, and tells
// await's failure message how far it got.
type handledLog struct {
	mu   sync.Mutex
	runs map[string]int      // event ID → handler runs, failed or not
	done map[string][]int64  // aggregate → sequences handled, in order
	ids  map[string]struct{} // IDs handled
}

func newHandledLog() *handledLog {
	return &handledLog{runs: map[string]int{}, done: map[string][]int64{}, ids: map[string]struct{}{}}
}

// run counts a run of e's handler and returns how many runs e has had.
func (l *handledLog) run(e *events.Event) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs[e.ID]++
	return l.runs[e.ID]
}

func (l *handledLog) handled(e *events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done[e.AggregateKey] = append(l.done[e.AggregateKey], e.AggregateSeq)
	l.ids[e.ID] = struct{}{}
}

func (l *handledLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, seqs := range l.done {
		n += len(seqs)
	}
	return n
}

// String reports, per aggregate, how many events were handled and the
// last sequence: where a stalled consumer got stuck.
func (l *handledLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for agg, seqs := range l.done {
		parts = append(parts, fmt.Sprintf("%s: %d handled, last %d", agg, len(seqs), seqs[len(seqs)-1]))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// sequencer publishes events one at a time, each with the next
// position of its aggregate, as a relay would.
type sequencer struct {
	t   *testing.T
	pub *ejs.Publisher
	seq map[string]int64
}

func newSequencer(t *testing.T, pub *ejs.Publisher) *sequencer {
	return &sequencer{t: t, pub: pub, seq: map[string]int64{}}
}

// publish publishes an event of type typ at the next position of
// aggregate agg.
func (s *sequencer) publish(agg, subjectKey, typ string) *events.Event {
	s.t.Helper()
	e := &events.Event{TenantID: "acme", Type: typ, AggregateKey: agg, SubjectKey: subjectKey}
	require.NoError(s.t, events.Prepare(context.Background(), e, time.Now()))
	s.seq[agg]++
	e.AggregateSeq = s.seq[agg]
	require.Equal(s.t, []error{nil}, s.pub.Publish(context.Background(), []*events.Event{e}))
	return e
}

// TestEarlyEventsDoNotSpendTheDeliveryBudget: with many events in
// flight, an aggregate's later events wait while a failing one backs
// off. Waiting is not failing: every event is handled exactly once, in
// order per aggregate, though MaxDeliver is far below how often the
// later events came before their turn, and nothing is dead-lettered.
// With two processes of the durable consumer sharing the Inbox, one
// holds events whose predecessors the other handles.
func TestEarlyEventsDoNotSpendTheDeliveryBudget(t *testing.T) {
	for _, processes := range []int{1, 2} {
		t.Run(fmt.Sprintf("processes=%d", processes), func(t *testing.T) {
			testEarlyEvents(t, processes)
		})
	}
}

func testEarlyEvents(t *testing.T, processes int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	const n, aggs = 200, 5
	seq := newSequencer(t, pub)
	var evs []*events.Event
	for i := range n {
		evs = append(evs, seq.publish(fmt.Sprintf("order/%d", i%aggs), "", "order.changed"))
	}
	flaky := map[string]bool{} // every 7th event fails its first run
	for i, e := range evs {
		flaky[e.ID] = i%7 == 0
	}

	log := newHandledLog()
	h := func(_ context.Context, e *events.Event) error {
		if log.run(e) == 1 && flaky[e.ID] {
			return errors.New("first run fails")
		}
		log.handled(e)
		return nil
	}
	inbox := memstore.NewInbox()
	var wg sync.WaitGroup
	for range processes {
		// A backoff far longer than EarlyDelay: an event waiting behind a
		// failed one would come back many times over MaxDeliver if each
		// return counted.
		cons, err := ejs.NewConsumer(ctx, js, stream, "billing", inbox, h, ejs.ConsumerOptions{
			MaxAckPending: 32, MaxDeliver: 10, Backoff: []time.Duration{200 * time.Millisecond}, EarlyDelay: time.Millisecond})
		require.NoError(t, err)
		wg.Go(func() { _ = cons.Run(ctx) })
	}
	await.True(t, func() bool { return log.count() == n }, "every event handled; so far %v", log)
	cancel()
	wg.Wait()

	log.mu.Lock()
	defer log.mu.Unlock()
	assert.Len(t, log.ids, n, "each event handled once")
	for agg, seqs := range log.done {
		for i, s := range seqs {
			require.Equal(t, int64(i+1), s, "handling order of %s", agg)
		}
	}
	for _, e := range evs {
		want := 1
		if flaky[e.ID] {
			want = 2
		}
		assert.Equal(t, want, log.runs[e.ID], "runs of event %s", e.ID)
	}
	assert.Empty(t, streamMessages(t, js, ejs.DeadLetterStream(stream)), "nothing dead-lettered")
}

// TestConsumerGoesOnWithoutErasedEvents: an erasure purges a data
// subject's events while a consumer is behind. The event of their
// aggregate written after the erasure does not wait for ever for the
// purged ones: once everything before it is answered the consumer
// records the gap, says so in its log, and handles it; the other
// aggregates' events flow throughout.
func TestConsumerGoesOnWithoutErasedEvents(t *testing.T) {
	for _, maxAckPending := range []int{1, 8} {
		t.Run(fmt.Sprintf("MaxAckPending=%d", maxAckPending), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, js := connect(t)
			stream, prefix := newStream(t, js)
			pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
			require.NoError(t, err)
			publish := newSequencer(t, pub).publish
			bob1 := publish("user/bob", "bob", "user.created")
			publish("user/alice", "alice", "user.created")
			publish("user/alice", "alice", "user.renamed")
			bob2 := publish("user/bob", "bob", "user.renamed")
			src, err := ejs.NewSource(js, stream, ejs.SourceOptions{Prefix: prefix})
			require.NoError(t, err)
			erased, err := src.Erase(ctx, "acme", gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "alice"}}})
			require.NoError(t, err)
			require.Equal(t, 2, erased.Records)
			alice3 := publish("user/alice", "alice", "user.erased")
			bob3 := publish("user/bob", "bob", "user.deleted")

			var handled handledIDs
			var logs lockedBuffer
			cons, err := ejs.NewConsumer(ctx, js, stream, "billing", memstore.NewInbox(), handled.handle, ejs.ConsumerOptions{
				MaxAckPending: maxAckPending, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, err)
			ids := handled.runUntil(t, cons, 4, "the events left handled")
			assert.ElementsMatch(t, []string{bob1.ID, bob2.ID, alice3.ID, bob3.ID}, ids)
			assert.Equal(t, []string{bob1.ID, bob2.ID, bob3.ID}, slices.DeleteFunc(ids, func(id string) bool { return id == alice3.ID }),
				"bob's events in order")
			assert.Contains(t, logs.String(), "event="+alice3.ID, "the skipped gap is logged")
			assert.Empty(t, streamMessages(t, js, ejs.DeadLetterStream(stream)))
		})
	}
}

// TestConsumerGoesOnPastEventsOutsideItsSubjects: a consumer that
// takes only some of an aggregate's event types never gets the others;
// the gap check lets the events after them through, in order, while
// another aggregate's events go on.
func TestConsumerGoesOnPastEventsOutsideItsSubjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	publish := newSequencer(t, pub).publish
	publish("order/1", "", "order.created")
	publish("order/1", "", "order.paid")
	booked := publish("order/1", "", "shipment.booked")
	publish("order/1", "", "order.paid")
	other := publish("order/2", "", "shipment.booked")
	delivered := publish("order/1", "", "shipment.delivered")

	var handled handledIDs
	cons, err := ejs.NewConsumer(ctx, js, stream, "shipping", memstore.NewInbox(), handled.handle, ejs.ConsumerOptions{
		Subjects: []string{prefix + ".*.*.shipment.*"}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ids := handled.runUntil(t, cons, 3, "the consumer's events handled")
	assert.ElementsMatch(t, []string{booked.ID, other.ID, delivered.ID}, ids)
	assert.Less(t, slices.Index(ids, booked.ID), slices.Index(ids, delivered.ID), "order/1's events in order")
}

// lockedBuffer is a bytes.Buffer that a logger may write to while a
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
