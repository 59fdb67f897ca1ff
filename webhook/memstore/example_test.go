package memstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// A dispatcher over the in-memory store, for tests: endpoints and the
// queue live in the process, and go with it.
func Example() {
	handle, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate()) // seals endpoint secrets; a KMS-backed keyring in production
	sealer, _ := aead.New(handle)
	st := memstore.New()
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return sealer }, webhook.DispatcherOptions{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _, _ = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in"})
	n, err := d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{"id":"in_1"}`)})
	fmt.Println(n, err)
	stats, _ := st.Stats(ctx, time.Now())
	fmt.Println(stats.Due)
	// Output:
	// 1 <nil>
	// 1
}

// Refuse a replayed webhook id in one process; sqlstore's Store.Seen or
// redisstore share the memory between replicas.
func ExampleNewSeen() {
	ctx := context.Background()
	seen := memstore.NewSeen(memstore.SeenOptions{})
	until := time.Now().Add(5 * time.Minute)
	first, _ := seen.MarkSeen(ctx, "msg_1", until)
	again, _ := seen.MarkSeen(ctx, "msg_1", until)
	fmt.Println(first, again)
	// Output: true false
}
