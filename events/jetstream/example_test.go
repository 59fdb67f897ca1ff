package jetstream_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
)

// The relay publishes the outbox to a stream; a consumer handles each
// event once. (It needs a NATS server with JetStream, so it has no
// checked output.)
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := ejs.EnsureStream(ctx, js, "EVENTS", ejs.StreamOptions{}); err != nil {
		panic(err)
	}
	outbox := memstore.New() // or events/sqlstore, written in the application's transaction
	pub, _ := ejs.NewPublisher(js, ejs.PublisherOptions{Stream: "EVENTS"})
	relay, _ := events.NewRelay(outbox, pub, events.RelayOptions{})
	go func() { _ = relay.Run(ctx) }()

	handle := func(ctx context.Context, e *events.Event) error {
		fmt.Println("billing:", e.Type, e.TenantID)
		return nil
	}
	cons, err := ejs.NewConsumer(ctx, js, "EVENTS", "billing", memstore.NewInbox(), handle,
		ejs.ConsumerOptions{Subjects: []string{"events.*.*.user.created"}})
	if err != nil {
		panic(err)
	}
	go func() { _ = cons.Run(ctx) }()
	_ = outbox.Append(ctx, &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/42", SubjectKey: "42"})
}
