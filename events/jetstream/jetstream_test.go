package jetstream_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestPublishIsExactlyOncePerID(t *testing.T) {
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream})
	require.NoError(t, err)
	e := &events.Event{TenantID: "acme", Type: "user.created", SubjectKey: "u1", Payload: []byte(`{}`)}
	require.NoError(t, events.Prepare(context.Background(), e, time.Now()))
	e.AggregateSeq = 1
	for range 3 {
		errs := pub.Publish(context.Background(), []*events.Event{e})
		require.NoError(t, errs[0])
	}
	msgs := streamMessages(t, js, stream)
	require.Len(t, msgs, 1, "the duplicate window drops republished IDs")
	assert.Equal(t, events.Subject(prefix, e), msgs[0].Subject())
	got, err := ejs.Decode(msgs[0].Subject(), msgs[0].Headers(), msgs[0].Data())
	require.NoError(t, err)
	assert.Equal(t, e.ID, got.ID)
	assert.Equal(t, e.SubjectKey, got.SubjectKey)
	assert.Equal(t, int64(1), got.AggregateSeq)
	assert.True(t, e.OccurredAt.Equal(got.OccurredAt))
}

// TestOutboxToConsumer runs the whole path on every SQL engine: written
// in a transaction, relayed, handled once in order with the handler's
// writes in the inbox's transaction, and the writer's trace continued.
func TestOutboxToConsumer(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, js := connect(t)
		stream, prefix := newStream(t, js)
		db := open(t)
		st, err := sqlstore.New(db.DB)
		require.NoError(t, err)
		require.NoError(t, st.Migrate(ctx))
		_, err = db.Exec(`CREATE TABLE handled (id TEXT PRIMARY KEY, agg TEXT NOT NULL, seq INTEGER NOT NULL)`)
		require.NoError(t, err)

		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		prop := propagation.TraceContext{}
		wctx, writer := tp.Tracer("test").Start(ctx, "write")
		carrier := propagation.MapCarrier{}
		prop.Inject(wctx, carrier)
		writer.End()

		const n = 60
		for i := range n {
			e := &events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: fmt.Sprintf("order/%d", i%4), Trace: carrier}
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return st.AppendTx(ctx, tx, e) }))
		}
		pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream})
		require.NoError(t, err)
		relay, err := events.NewRelay(st, pub, events.RelayOptions{PollInterval: 5 * time.Millisecond})
		require.NoError(t, err)
		var mu sync.Mutex
		var order []*events.Event
		h := func(ctx context.Context, e *events.Event) error {
			_, err := events.Tx(ctx).ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO handled (id, agg, seq) VALUES (?, ?, ?)`), e.ID, e.AggregateKey, e.AggregateSeq)
			mu.Lock()
			order = append(order, e)
			mu.Unlock()
			return err
		}
		cons, err := ejs.NewConsumer(ctx, js, stream, "billing", st, h, ejs.ConsumerOptions{TracerProvider: tp, Propagator: prop})
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() { _ = relay.Run(ctx) })
		wg.Go(func() { _ = cons.Run(ctx) })
		await.True(t, func() bool {
			var c int
			_ = db.QueryRow(`SELECT COUNT(*) FROM handled`).Scan(&c)
			return c == n
		}, "every event handled")
		cancel()
		wg.Wait()
		assert.Len(t, streamMessages(t, js, stream), n)
		next := map[string]int64{}
		for _, e := range order {
			next[e.AggregateKey]++
			assert.Equal(t, next[e.AggregateKey], e.AggregateSeq)
		}
		var handles int
		for _, s := range rec.Ended() {
			if s.Name() == "saaskit.events.handle" {
				handles++
				assert.Equal(t, writer.SpanContext().TraceID(), s.Parent().TraceID(), "the handler continues the writer's trace")
				assert.Equal(t, writer.SpanContext().SpanID(), s.Parent().SpanID(), "the handler's span is a child of the writer's")
				assert.True(t, s.Parent().IsRemote(), "the parent came through the message's headers")
			}
		}
		assert.Equal(t, n, handles)
	})
}

func TestFailingHandlerIsRetriedThenDeadLettered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	outbox := memstore.New()
	poison := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/1", SubjectKey: "1"}
	after := &events.Event{TenantID: "acme", Type: "user.renamed", AggregateKey: "user/1", SubjectKey: "1"}
	flaky := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/2"}
	require.NoError(t, outbox.Append(ctx, poison, after, flaky))
	relay, err := events.NewRelay(outbox, pub, events.RelayOptions{})
	require.NoError(t, err)
	for outbox.Pending() > 0 {
		_, err := relay.RelayOnce(ctx)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	var handled []string
	h := func(ctx context.Context, e *events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		runs[e.ID]++
		if e.ID == poison.ID || (e.ID == flaky.ID && runs[e.ID] < 2) {
			return errors.New("cannot handle")
		}
		handled = append(handled, e.ID)
		return nil
	}
	cons, err := ejs.NewConsumer(ctx, js, stream, "billing", memstore.NewInbox(), h,
		ejs.ConsumerOptions{MaxDeliver: 3, Backoff: []time.Duration{time.Millisecond}})
	require.NoError(t, err)
	go func() { _ = cons.Run(ctx) }()
	await.True(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 2 })
	mu.Lock()
	assert.Equal(t, 3, runs[poison.ID], "bounded by MaxDeliver")
	assert.Equal(t, 2, runs[flaky.ID])
	assert.ElementsMatch(t, []string{after.ID, flaky.ID}, handled, "the dead letter lets its aggregate move on")
	mu.Unlock()
	dead := streamMessages(t, js, ejs.DeadLetterStream(stream))
	require.Len(t, dead, 1)
	assert.Equal(t, poison.ID, dead[0].Headers().Get(ejs.HeaderID))
	assert.Equal(t, "cannot handle", dead[0].Headers().Get("Saaskit-Dead-Letter-Reason"))
}

func TestGDPRSourcePurgesTheSubjectsEvents(t *testing.T) {
	ctx := context.Background()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	var evs []*events.Event
	for i, key := range []string{"alice", "alice", "bob", ""} {
		e := &events.Event{TenantID: "acme", Type: "user.updated", SubjectKey: key, Payload: fmt.Appendf(nil, `{"n":%d}`, i)}
		require.NoError(t, events.Prepare(ctx, e, time.Now()))
		evs = append(evs, e)
	}
	other := &events.Event{TenantID: "globex", Type: "user.updated", SubjectKey: "alice"}
	require.NoError(t, events.Prepare(ctx, other, time.Now()))
	for _, err := range pub.Publish(ctx, append(evs, other)) {
		require.NoError(t, err)
	}
	src, err := ejs.NewSource(js, stream, ejs.SourceOptions{Prefix: prefix})
	require.NoError(t, err)
	alice := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "alice"}}}
	n, err := src.Count(ctx, "acme", alice)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	var exported []any
	require.NoError(t, src.Export(ctx, "acme", alice, func(r any) error { exported = append(exported, r); return nil }))
	assert.Len(t, exported, 2)

	erased, err := src.Erase(ctx, "acme", alice)
	require.NoError(t, err)
	assert.Equal(t, 2, erased.Records)
	assert.Contains(t, erased.Note, "purge")
	left := streamMessages(t, js, stream)
	assert.Len(t, left, 3, "bob's, the anonymous event and the other tenant's alice stay")
	for _, m := range left {
		assert.NotEqual(t, events.Subject(prefix, evs[0]), m.Subject())
	}
	n, err = src.Count(ctx, "acme", alice)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestUndecodableMessageIsDeadLettered: a message on the stream that is
// not an event (here, without ce-dataversion) goes to the dead letters
// at once, its handler never runs, and the events after it flow.
func TestUndecodableMessageIsDeadLettered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	good := &events.Event{ID: "good", TenantID: "acme", Type: "user.created", Version: 1, AggregateKey: "user/2", OccurredAt: time.Now()}
	bad := ejs.Message(prefix, "test", &events.Event{ID: "bad", TenantID: "acme", Type: "user.created", Version: 1, AggregateKey: "user/1", OccurredAt: time.Now()})
	bad.Header.Del(ejs.HeaderVersion)
	_, err := js.PublishMsg(ctx, bad)
	require.NoError(t, err)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	require.Equal(t, []error{nil}, pub.Publish(ctx, []*events.Event{good}))

	var handled handledIDs
	cons, err := ejs.NewConsumer(ctx, js, stream, "billing", memstore.NewInbox(), handled.handle, ejs.ConsumerOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"good"}, handled.runUntil(t, cons, 1, "the event after the bad message is handled"))
	dead := streamMessages(t, js, ejs.DeadLetterStream(stream))
	require.Len(t, dead, 1)
	assert.Equal(t, "bad", dead[0].Headers().Get(ejs.HeaderID))
	assert.Contains(t, dead[0].Headers().Get("Saaskit-Dead-Letter-Reason"), ejs.HeaderVersion)
	assert.Equal(t, ejs.DeadLetterPrefix(stream)+".billing."+bad.Subject, dead[0].Subject())
}
