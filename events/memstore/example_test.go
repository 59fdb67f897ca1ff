package memstore_test

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/memstore"
)

func Example() {
	ctx := context.Background()
	store, stream := memstore.New(), memstore.NewStream()
	_ = store.Append(ctx, &events.Event{TenantID: "acme", Type: "user.created"})
	relay, _ := events.NewRelay(store, stream, events.RelayOptions{})
	n, _ := relay.RelayOnce(ctx)
	fmt.Println(n, store.Pending(), len(stream.Events()))
	// Output: 1 0 1
}
