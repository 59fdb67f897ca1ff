package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// A secret rotated with an hour's overlap: both secrets sign until then.
func ExampleDispatcher_RotateSecret() {
	ctx := context.Background()
	handle, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate()) // a KMS-backed keyring in production
	sealer, _ := aead.New(handle)
	st := memstore.New()
	d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return sealer }, webhook.DispatcherOptions{})
	ep, oldSecret, _ := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in"})

	newSecret, _ := d.RotateSecret(ctx, "acme", ep.ID, time.Hour)
	ep, _ = d.GetEndpoint(ctx, "acme", ep.ID)
	fmt.Println(len(ep.Secrets), newSecret != oldSecret, ep.PreviousSecretsUntil.Sub(ep.UpdatedAt))
	// Output: 2 true 1h0m0s
}

// A catalogue of the event types the application sends, enforced by its
// dispatcher: an endpoint may subscribe to a family of them, and a
// payload that breaks its type's schema is refused.
func ExampleNewCatalogue() {
	catalogue, err := webhook.NewCatalogue(
		webhook.EventType{Name: "invoice.paid", Description: "An invoice was paid in full.",
			Schema: json.RawMessage(`{"type": "object", "required": ["id"]}`)},
		webhook.EventType{Name: "invoice.voided", Description: "An invoice was voided.", State: webhook.EventTypeDeprecated},
	)
	if err != nil {
		panic(err)
	}
	handle, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	sealer, _ := aead.New(handle)
	st := memstore.New()
	d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return sealer }, webhook.DispatcherOptions{Catalogue: catalogue})

	ctx := context.Background()
	_, _, err = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in", EventTypes: []string{"invoice.*"}})
	fmt.Println(err)
	n, err := d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{"id": "in_1"}`)})
	fmt.Println(n, err)
	_, err = d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{}`)})
	fmt.Println(errors.Is(err, webhook.ErrInvalid))
	_, err = d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "refund.created", Payload: json.RawMessage(`{}`)})
	fmt.Println(errors.Is(err, webhook.ErrUnknownEventType))
	// Output:
	// <nil>
	// 1 <nil>
	// true
	// true
}

// An ordered endpoint holds a message only behind earlier ones with the
// same ordering key: while invoice in_1's first event is out, its second
// waits, and invoice in_2's goes.
func ExampleMessage_orderingKey() {
	ctx := context.Background()
	handle, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	sealer, _ := aead.New(handle)
	st := memstore.New()
	d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return sealer }, webhook.DispatcherOptions{})
	_, _, _ = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in", Ordered: true})
	for _, m := range [][3]string{{"evt_1", "invoice.created", "in_1"}, {"evt_2", "invoice.paid", "in_1"}, {"evt_3", "invoice.created", "in_2"}} {
		_, _ = d.Send(ctx, &webhook.Message{ID: m[0], TenantID: "acme", EventType: m[1], Payload: json.RawMessage(`{}`), OrderingKey: m[2]})
	}

	// What a worker may take now: the first message of each key.
	claimed, _ := st.Claim(ctx, time.Now(), time.Minute, 10, 10)
	for _, del := range claimed {
		fmt.Println(del.Message.ID, del.Message.OrderingKey)
	}
	// Output:
	// evt_1 in_1
	// evt_3 in_2
}
