package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// queueBackend is a store for the end-to-end benchmark.
type queueBackend struct {
	name string
	open func(b *testing.B) (webhook.EndpointStore, webhook.Queue)
}

var queueBackends = []queueBackend{
	{"memory", func(*testing.B) (webhook.EndpointStore, webhook.Queue) { s := memstore.New(); return s, s }},
	{"sqlite", func(b *testing.B) (webhook.EndpointStore, webhook.Queue) {
		s := newStore(b, sqldbtest.OpenSQLite(b))
		return s, s
	}},
	{"postgres", func(b *testing.B) (webhook.EndpointStore, webhook.Queue) {
		s := newStore(b, sqldbtest.OpenPostgres(b))
		return s, s
	}},
}

// arrivals is a loopback receiver that notes when each webhook-id first
// arrives.
type arrivals struct {
	*httptest.Server
	mu    sync.Mutex
	first map[string]time.Time
	all   chan struct{} // closed when want ids have arrived
	want  int
}

func newArrivals(b *testing.B, want int) *arrivals {
	a := &arrivals{first: map[string]time.Time{}, all: make(chan struct{}), want: want}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		id := r.Header.Get("webhook-id")
		a.mu.Lock()
		if _, seen := a.first[id]; !seen {
			a.first[id] = now
			if len(a.first) == a.want {
				close(a.all)
			}
		}
		a.mu.Unlock()
	}))
	b.Cleanup(a.Close)
	return a
}

// BenchmarkEndToEnd runs the dispatcher against a loopback receiver on
// each queue, 16 deliveries in flight:
//
//   - throughput: b.N messages queued, then delivered; deliveries/s.
//
//   - lag: b.N messages sent at 200 per second while workers run; the
//     p50 and p99 time from calling Send to the receiver's first
//     sight of the message.
//
//     SAASKIT_TEST_POSTGRES_DSN=... go test -run '^$' -bench EndToEnd -benchtime 2000x ./webhook/sqlstore/
func BenchmarkEndToEnd(b *testing.B) {
	for _, be := range queueBackends {
		b.Run(be.name+"/throughput", func(b *testing.B) { benchThroughput(b, be) })
		b.Run(be.name+"/lag", func(b *testing.B) { benchLag(b, be) })
	}
}

func benchDispatcher(b *testing.B, be queueBackend, url string) (*webhook.Dispatcher, webhook.WorkerOptions) {
	endpoints, queue := be.open(b)
	aead, err := sealKey()
	if err != nil {
		b.Fatal(err)
	}
	d, err := webhook.NewDispatcher(endpoints, queue, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: loopbackCIDRs})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: url}); err != nil {
		b.Fatal(err)
	}
	return d, webhook.WorkerOptions{Concurrency: 16, PerEndpoint: 16, Client: loopback, Poll: 10 * time.Millisecond}
}

var benchPayload = append(append([]byte(`"`), bytes.Repeat([]byte("x"), 1022)...), '"')

func benchThroughput(b *testing.B, be queueBackend) {
	rcv := newArrivals(b, b.N)
	d, opts := benchDispatcher(b, be, rcv.URL)
	ctx := context.Background()
	for i := range b.N {
		if _, err := d.Send(ctx, &webhook.Message{ID: fmt.Sprint("msg_", i), TenantID: "acme", EventType: "bench", Payload: benchPayload}); err != nil {
			b.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { defer close(done); _ = d.Run(runCtx, opts) }()
	<-rcv.all
	elapsed := time.Since(start)
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}

func benchLag(b *testing.B, be queueBackend) {
	const rate = 200 // messages per second
	rcv := newArrivals(b, b.N)
	d, opts := benchDispatcher(b, be, rcv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx, opts) }()
	defer func() { cancel(); <-done }()
	sent := make([]time.Time, b.N)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		sent[i] = time.Now()
		if _, err := d.Send(ctx, &webhook.Message{ID: fmt.Sprint("msg_", i), TenantID: "acme", EventType: "bench", Payload: benchPayload}); err != nil {
			b.Fatal(err)
		}
	}
	<-rcv.all
	b.StopTimer()
	lags := make([]time.Duration, b.N)
	rcv.mu.Lock()
	for i := range b.N {
		lags[i] = max(rcv.first[fmt.Sprint("msg_", i)].Sub(sent[i]), 0)
	}
	rcv.mu.Unlock()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
}
