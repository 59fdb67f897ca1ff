package jetstreamdest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/jetstreamdest"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// BenchmarkDeliver publishes b.N signed 1 KiB payloads to a JetStream
// subject at the same concurrency two ways: the limit, a bare loop that
// signs and calls jetstream.PublishMsg; and the dispatcher over the
// in-memory queue (claim, lease, sign, publish, record the ack) through
// a jetstreamdest.Destination. Compare deliveries/s.
func BenchmarkDeliver(b *testing.B) {
	const concurrency = 16
	js := connect(b)
	payload := bytes.Repeat([]byte("x"), 1024)
	payload[0], payload[len(payload)-1] = '"', '"'
	ctx := context.Background()
	tenant := "b" + strings.ToLower(rand.Text()[:10])
	subject := jetstreamdest.DefaultPrefix(tenant) + "bench"
	name := "WHB_" + strings.ToUpper(tenant)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = js.DeleteStream(ctx, name) })

	b.Run("bare-publish", func(b *testing.B) {
		signer, _ := webhook.NewSigner(webhook.NewSecret())
		webhooktest.BenchLimit(b, concurrency, func() error {
			msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: payload}
			_ = signer.SetHeaders(map[string][]string(msg.Header), "msg_bench", time.Now(), payload)
			_, err := js.PublishMsg(ctx, msg)
			return err
		})
	})

	b.Run("dispatcher", func(b *testing.B) {
		dest, _ := jetstreamdest.New(js, jetstreamdest.Options{})
		uri, _ := fakekms.NewKeyURI()
		aead, _ := fakekms.NewAEAD(uri)
		st := memstore.New()
		d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead },
			webhook.DispatcherOptions{Destinations: map[string]webhook.Destination{jetstreamdest.Scheme: dest}})
		if _, _, err := d.CreateEndpoint(ctx, tenant, webhook.EndpointSpec{URL: "nats://" + subject}); err != nil {
			b.Fatal(err)
		}
		webhooktest.BenchDispatcher(b, d, tenant, payload, webhook.WorkerOptions{Concurrency: concurrency, PerEndpoint: concurrency, Poll: time.Millisecond})
	})
}
