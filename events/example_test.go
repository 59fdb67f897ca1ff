package events_test

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/memstore"
)

// An outbox relayed to a stream, and a consumer that handles each event
// once however often it comes.
func Example() {
	ctx := context.Background()
	outbox, stream := memstore.New(), memstore.NewStream()
	relay, err := events.NewRelay(outbox, stream, events.RelayOptions{})
	if err != nil {
		panic(err)
	}
	for _, typ := range []string{"user.created", "user.renamed"} {
		if err := outbox.Append(ctx, &events.Event{TenantID: "acme", Type: typ, AggregateKey: "user/42", SubjectKey: "42"}); err != nil {
			panic(err)
		}
	}
	n, err := relay.RelayOnce(ctx)
	fmt.Println("relayed", n, err)

	inbox := memstore.NewInbox()
	for _, e := range append(stream.Events(), stream.Events()...) { // every event twice
		o, _ := inbox.Process(ctx, "billing", e, func(ctx context.Context, e *events.Event) error {
			fmt.Println("billing handles", e.Type, e.AggregateSeq, events.Subject("events", e))
			return nil
		})
		fmt.Println(o)
	}
	// Output:
	// relayed 2 <nil>
	// billing handles user.created 1 events.acme.NDI.user.created
	// handled
	// billing handles user.renamed 2 events.acme.NDI.user.renamed
	// handled
	// duplicate
	// duplicate
}
