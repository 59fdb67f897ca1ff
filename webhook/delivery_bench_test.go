package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// BenchmarkDelivery posts b.N signed 1 KiB payloads to a loopback
// receiver at the same concurrency two ways: the limit, a bare net/http
// loop that signs and posts; and the dispatcher over the in-memory queue
// (claim, lease, sign, post, record). Compare deliveries/s.
func BenchmarkDelivery(b *testing.B) {
	const concurrency = 16
	payload := bytes.Repeat([]byte("x"), 1024)
	payload[0], payload[len(payload)-1] = '"', '"'
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	transport := func() *http.Transport {
		return &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	}

	b.Run("bare-http", func(b *testing.B) {
		signer, _ := webhook.NewSigner(webhook.NewSecret())
		client := &http.Client{Transport: transport(), Timeout: 15 * time.Second}
		webhooktest.BenchLimit(b, concurrency, func() error {
			req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(payload))
			_ = signer.SetHeaders(req.Header, "msg_bench", time.Now(), payload)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
	})

	b.Run("memqueue", func(b *testing.B) {
		uri, _ := fakekms.NewKeyURI()
		aead, _ := fakekms.NewAEAD(uri)
		st := memstore.New()
		d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: loopback})
		if _, _, err := d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: srv.URL}); err != nil {
			b.Fatal(err)
		}
		client := webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		webhooktest.BenchDispatcher(b, d, "acme", payload, webhook.WorkerOptions{Concurrency: concurrency, PerEndpoint: concurrency, Client: client, Poll: time.Millisecond})
	})
}
