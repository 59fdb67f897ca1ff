package jetstream_test

import (
	"context"
	"errors"
	"fmt"
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

// publishAggregates publishes n events round-robin over aggregates
// order/0 … order/<aggs-1>, each with its aggregate sequence, and
// returns them in publishing order.
func publishAggregates(t *testing.T, pub *ejs.Publisher, n, aggs int) []*events.Event {
	t.Helper()
	ctx := context.Background()
	seq := map[string]int64{}
	var evs []*events.Event
	for i := range n {
		e := &events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: fmt.Sprintf("order/%d", i%aggs)}
		require.NoError(t, events.Prepare(ctx, e, time.Now()))
		seq[e.AggregateKey]++
		e.AggregateSeq = seq[e.AggregateKey]
		require.Equal(t, []error{nil}, pub.Publish(ctx, []*events.Event{e}))
		evs = append(evs, e)
	}
	return evs
}

// TestEarlyEventsDoNotSpendTheDeliveryBudget: with many events in
// flight, an aggregate's later events wait while a failing one backs
// off. Waiting is not failing: every event is handled exactly once, in
// order per aggregate, though MaxDeliver is far below how often the
// later events came before their turn, and nothing is dead-lettered.
func TestEarlyEventsDoNotSpendTheDeliveryBudget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	const n, aggs = 200, 5
	evs := publishAggregates(t, pub, n, aggs)
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
	// A backoff far longer than EarlyDelay: an event waiting behind a
	// failed one would come back many times over MaxDeliver if each
	// return counted.
	cons, err := ejs.NewConsumer(ctx, js, stream, "billing", memstore.NewInbox(), h, ejs.ConsumerOptions{
		MaxAckPending: 32, MaxDeliver: 10, Backoff: []time.Duration{200 * time.Millisecond}, EarlyDelay: time.Millisecond})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() { _ = cons.Run(ctx) })
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
