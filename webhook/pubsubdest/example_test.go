package pubsubdest_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/pubsubdest"
)

// A tenant's endpoint on an in-memory topic: the worker sends the
// signed message there and the consumer verifies it.
func Example() {
	ctx := context.Background()
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	store := memstore.New()
	dest := pubsubdest.New(pubsubdest.Options{})
	defer dest.Close(ctx)
	d, _ := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{
		Destinations: map[string]webhook.Destination{mempubsub.Scheme: dest},
	})

	// The operator's side of the broker: the topic and a consumer.
	topic, _ := pubsub.OpenTopic(ctx, "mem://webhooks.acme.orders")
	defer topic.Shutdown(ctx)
	sub, _ := pubsub.OpenSubscription(ctx, "mem://webhooks.acme.orders")
	defer sub.Shutdown(ctx)

	e, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "mem://webhooks.acme.orders"})
	fmt.Println("created:", err)
	_, _, err = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "mem://webhooks.globex.orders"})
	fmt.Println("another tenant's topic:", err != nil)

	_, _ = d.Send(ctx, &webhook.Message{ID: "msg_1", TenantID: "acme", EventType: "order.created", Payload: []byte(`{"id":1}`)})
	runCtx, stop := context.WithCancel(ctx)
	go func() { _ = d.Run(runCtx, webhook.WorkerOptions{Poll: 10 * time.Millisecond}) }()
	defer stop()

	m, _ := sub.Receive(ctx)
	m.Ack()
	h := http.Header{}
	for k, v := range m.Metadata {
		h.Set(k, v)
	}
	v, _ := d.Verifier(ctx, "acme", webhook.VerifyOptions{}, e.ID)
	fmt.Println(string(m.Body), h.Get("webhook-id"), "verified:", v.Verify(h, m.Body) == nil)
	// Output:
	// created: <nil>
	// another tenant's topic: true
	// {"id":1} msg_1 verified: true
}
