package jetstreamdest_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/jetstreamdest"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// A tenant's endpoint on a JetStream subject, and a consumer verifying
// what arrives. It needs a NATS server with JetStream, so it is
// compiled, not run; the package's tests run the same on one.
func Example() {
	ctx := context.Background()
	nc, _ := nats.Connect(nats.DefaultURL)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// The operator's stream takes every tenant's webhooks.
	st, _ := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "WEBHOOKS", Subjects: []string{"webhooks.>"}})

	dest, _ := jetstreamdest.New(js, jetstreamdest.Options{Stream: "WEBHOOKS"})
	store := memstore.New()
	var seal func(tenantID string) webhook.AEAD // a crypto.Keyring's AEAD per tenant
	d, _ := webhook.NewDispatcher(store, store, seal, webhook.DispatcherOptions{
		Destinations: map[string]webhook.Destination{jetstreamdest.Scheme: dest},
	})
	e, _, _ := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "nats://webhooks.acme.orders", Ordered: true})
	_, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "nats://$JS.API.STREAM.DELETE.WEBHOOKS"})
	fmt.Println("refused:", err != nil)
	go func() { _ = d.Run(ctx, webhook.WorkerOptions{}) }()
	_, _ = d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "order.created", OrderingKey: "order_1", Payload: []byte(`{"id":1}`)})

	// The consumer: a message carries the signature headers.
	cons, _ := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"webhooks.acme.>"}})
	m, _ := cons.Next()
	v, _ := d.Verifier(ctx, "acme", webhook.VerifyOptions{}, e.ID)
	fmt.Println("verified:", v.Verify(http.Header(m.Headers()), m.Data()) == nil)
}
