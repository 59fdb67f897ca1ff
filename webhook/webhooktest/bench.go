package webhooktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// BenchLimit is the bare-loop side of a delivery benchmark: it calls
// deliver b.N times from concurrency goroutines and reports the rate
// as deliveries/s, the figure BenchDispatcher reports beside it.
func BenchLimit(b *testing.B, concurrency int, deliver func() error) {
	b.Helper()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for range work {
				if err := deliver(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchDispatcher is the dispatcher side of a delivery benchmark: it
// sends b.N copies of payload to tenant's endpoints, then times d.Run
// with opts until every delivery has succeeded (claim, lease, sign,
// deliver, record), and reports deliveries/s.
func BenchDispatcher(b *testing.B, d *webhook.Dispatcher, tenant string, payload []byte, opts webhook.WorkerOptions) {
	b.Helper()
	ctx := context.Background()
	for range b.N {
		if _, err := d.Send(ctx, &webhook.Message{TenantID: tenant, EventType: "bench", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	outcomes, stop := d.Subscribe(b.N)
	defer stop()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(done)
		_ = d.Run(runCtx, opts)
	}()
	for range b.N {
		if o := <-outcomes; o.Delivery.State != webhook.StateSucceeded {
			b.Fatalf("delivery %s: %s", o.Delivery.State, o.Delivery.LastError)
		}
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}
