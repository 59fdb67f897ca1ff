package jetstream_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// benchWorkers and benchBatch are the concurrency of both sides of
// BenchmarkRelay: the relay's workers each publish a batch of distinct
// aggregates at once, and the bare publishers each publish as many
// messages asynchronously and wait for their acks.
const (
	benchWorkers = 4
	benchBatch   = 256
)

// BenchmarkRelay compares, in one run, the relay's throughput from an
// outbox to JetStream with bare jetstream.PublishMsgAsync of the same
// messages (Nats-Msg-Id set, acks awaited) at the same concurrency. One
// op is one event.
func BenchmarkRelay(b *testing.B) {
	ctx := context.Background()
	_, js := connect(b)
	payload := []byte(`{"user":"42","plan":"pro"}`)
	newEvents := func(n int) []*events.Event {
		evs := make([]*events.Event, n)
		for i := range evs {
			evs[i] = &events.Event{TenantID: "acme", Type: "user.updated", SubjectKey: "42", Payload: payload}
		}
		return evs
	}

	b.Run("bare-jetstream-publish", func(b *testing.B) {
		stream, prefix := newStream(b, js)
		evs := newEvents(b.N)
		for _, e := range evs {
			require.NoError(b, events.Prepare(ctx, e, time.Now()))
		}
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		for w := range benchWorkers {
			wg.Go(func() {
				for i := w * benchBatch; i < len(evs); i += benchWorkers * benchBatch {
					batch := evs[i:min(i+benchBatch, len(evs))]
					futures := make([]jetstream.PubAckFuture, len(batch))
					for j, e := range batch {
						f, err := js.PublishMsgAsync(ejs.Message(prefix, "bench", e), jetstream.WithMsgID(e.ID), jetstream.WithExpectStream(stream))
						if err != nil {
							b.Error(err)
							return
						}
						futures[j] = f
					}
					for _, f := range futures {
						select {
						case <-f.Ok():
						case err := <-f.Err():
							b.Error(err)
						}
					}
				}
			})
		}
		wg.Wait()
	})

	relayFrom := func(b *testing.B, store events.Store) {
		stream, prefix := newStream(b, js)
		pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream})
		require.NoError(b, err)
		relay, err := events.NewRelay(store, pub, events.RelayOptions{Workers: benchWorkers, BatchSize: benchBatch})
		require.NoError(b, err)
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		var relayed atomic.Int64
		for range benchWorkers {
			wg.Go(func() {
				for relayed.Load() < int64(b.N) {
					n, err := relay.RelayOnce(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					relayed.Add(int64(n))
				}
			})
		}
		wg.Wait()
	}
	b.Run("relay-memstore", func(b *testing.B) {
		store := memstore.New()
		require.NoError(b, store.Append(ctx, newEvents(b.N)...))
		relayFrom(b, store)
	})
	for _, engine := range sqldbtest.Engines {
		b.Run("relay-"+engine.Name, func(b *testing.B) {
			db := engine.Open(b) // PostgreSQL skips without SAASKIT_TEST_POSTGRES_DSN
			store, err := sqlstore.New(db.DB)
			require.NoError(b, err)
			require.NoError(b, store.Migrate(ctx))
			evs := newEvents(b.N)
			for i := 0; i < len(evs); i += 1000 {
				require.NoError(b, store.Append(ctx, evs[i:min(i+1000, len(evs))]...))
			}
			relayFrom(b, store)
		})
	}
}

// BenchmarkEndToEndLag writes one event per op at 1,000 events/s into
// an outbox on each engine, each in its own transaction followed by
// Relay.Notify, and reports the lag from commit to the consumer's
// handler (default options on both sides): p50-ms and p99-ms.
func BenchmarkEndToEndLag(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(engine.Name, func(b *testing.B) {
			db := engine.Open(b) // PostgreSQL skips without SAASKIT_TEST_POSTGRES_DSN
			benchmarkLag(b, db)
		})
	}
}

// benchmarkLag is BenchmarkEndToEndLag on db.
func benchmarkLag(b *testing.B, db *sqldb.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(b)
	stream, prefix := newStream(b, js)
	store, err := sqlstore.New(db.DB)
	require.NoError(b, err)
	require.NoError(b, store.Migrate(ctx))
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream})
	require.NoError(b, err)
	relay, err := events.NewRelay(store, pub, events.RelayOptions{})
	require.NoError(b, err)

	var mu sync.Mutex
	committed := map[string]time.Time{}
	lags := make([]time.Duration, 0, b.N)
	all := make(chan struct{})
	h := func(_ context.Context, e *events.Event) error {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		lags = append(lags, now.Sub(committed[e.ID]))
		if len(lags) == b.N {
			close(all)
		}
		return nil
	}
	cons, err := ejs.NewConsumer(ctx, js, stream, "lag", memstore.NewInbox(), h, ejs.ConsumerOptions{})
	require.NoError(b, err)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(ctx) })
	wg.Go(func() { _ = cons.Run(ctx) })

	b.ReportAllocs()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range b.N {
		<-tick.C
		e := &events.Event{ID: fmt.Sprintf("lag-%d", i), TenantID: "acme", Type: "user.updated", Payload: []byte(`{}`)}
		// The handler may run before the commit time is stored: hold the
		// lock across the commit.
		mu.Lock()
		err := db.InTx(ctx, func(tx *sql.Tx) error { return store.AppendTx(ctx, tx, e) })
		committed[e.ID] = time.Now()
		mu.Unlock()
		require.NoError(b, err)
		relay.Notify()
	}
	<-all
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lags[min(len(lags)-1, len(lags)*99/100)])/1e6, "p99-ms")
}
