package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// BenchmarkDelivery posts b.N signed 1 KiB payloads to a loopback
// receiver at the same concurrency two ways: the limit, a bare net/http
// loop that signs and posts; and the dispatcher over the in-memory queue
// (claim, lease, sign, post, record). Compare deliveries/s.
func BenchmarkDelivery(b *testing.B) {
	const concurrency = 16
	payload := bytes.Repeat([]byte("x"), 1024)
	payload[0], payload[len(payload)-1] = '"', '"'
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
	}))
	defer srv.Close()
	transport := func() *http.Transport {
		return &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	}

	b.Run("bare-http", func(b *testing.B) {
		signer, _ := webhook.NewSigner(webhook.NewSecret())
		client := &http.Client{Transport: transport(), Timeout: 15 * time.Second}
		work := make(chan int)
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for range work {
					req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(payload))
					_ = signer.SetHeaders(req.Header, "msg_bench", time.Now(), payload)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			work <- i
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	})

	b.Run("memqueue", func(b *testing.B) {
		uri, _ := fakekms.NewKeyURI()
		aead, _ := fakekms.NewAEAD(uri)
		st := memstore.New()
		d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: loopback})
		ctx := context.Background()
		if _, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: srv.URL}); err != nil {
			b.Fatal(err)
		}
		for range b.N {
			if _, err := d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "bench", Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		client := webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		client.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		received.Store(0)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		go func() {
			defer close(done)
			_ = d.Run(runCtx, webhook.WorkerOptions{Concurrency: concurrency, PerEndpoint: concurrency, Client: client, Poll: time.Millisecond})
		}()
		for received.Load() < int64(b.N) {
			time.Sleep(100 * time.Microsecond)
		}
		elapsed := time.Since(start)
		cancel()
		<-done
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	})
}
