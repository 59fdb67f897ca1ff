package webhook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// Succeeded deliveries kept a week, their payloads a day. A service
// runs d.RunRetention(ctx, r) beside d.Run instead of calling Expire.
func ExampleDispatcher_Expire() {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := start
	st := memstore.New()
	d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return nil }, // no endpoint secrets here
		webhook.DispatcherOptions{Now: func() time.Time { return now }})

	// One message to one endpoint, delivered at once, as Run would.
	ep := &webhook.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://hooks.example.com/in"}
	msg := &webhook.Message{ID: "msg_1", TenantID: "acme", EventType: "invoice.paid", Payload: []byte(`{"id":"in_1"}`), CreatedAt: start}
	_ = st.Enqueue(ctx, msg, []*webhook.Endpoint{ep})
	claimed, _ := st.Claim(ctx, start, time.Minute, 1, 1)
	claimed[0].State, claimed[0].Attempts = webhook.StateSucceeded, 1
	_ = st.Complete(ctx, claimed[0], webhook.Attempt{At: start, Status: 200})

	r := webhook.Retention{Finished: 7 * 24 * time.Hour, Payload: 24 * time.Hour}
	for _, days := range []int{2, 8} {
		now = start.AddDate(0, 0, days)
		res, _ := d.Expire(ctx, r)
		fmt.Printf("day %d: %d payloads removed; %d messages, %d deliveries, %d attempts deleted\n",
			days, res.Payloads, res.Messages, res.Deliveries, res.Attempts)
		left, _ := st.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
		for _, del := range left {
			fmt.Printf("  %s %s, payload expunged: %v\n", del.Message.ID, del.Message.EventType, del.Message.PayloadExpunged())
		}
	}
	// Output:
	// day 2: 1 payloads removed; 0 messages, 0 deliveries, 0 attempts deleted
	//   msg_1 invoice.paid, payload expunged: true
	// day 8: 0 payloads removed; 1 messages, 1 deliveries, 1 attempts deleted
}
