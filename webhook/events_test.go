package webhook_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
)

// TestOperationalEvents: every change to a tenant's endpoint, and its
// failing, recovering and exhausting a delivery, reaches the operator
// tenant's endpoint as a signed webhook through the same queue, and
// OnEvent; events about the operator's own endpoints do not.
func TestOperationalEvents(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		heard []webhook.Event
	)
	catalogue, err := webhook.NewCatalogue(webhook.EventType{Name: "a"})
	require.NoError(t, err)
	f.d, err = webhook.NewDispatcher(f.store, f.store, func(string) webhook.AEAD { return f.aead }, webhook.DispatcherOptions{
		Now: f.clock.Now, AllowCIDRs: loopback, Catalogue: catalogue, OperatorTenant: "platform",
		OnEvent: func(ev webhook.Event) { mu.Lock(); heard = append(heard, ev); mu.Unlock() },
	})
	require.NoError(t, err)
	f.opts.MaxAttempts = 1
	operator := newReceiver(t, 204)
	_, _, err = f.d.CreateEndpoint(ctx, "platform", webhook.EndpointSpec{URL: operator.URL})
	require.NoError(t, err)

	tenant := newReceiver(t, 500, 204)
	e := f.endpoint(t, webhook.EndpointSpec{URL: tenant.URL})
	_, err = f.d.UpdateEndpoint(ctx, "acme", e.ID, webhook.EndpointSpec{URL: tenant.URL, RateLimit: 100})
	require.NoError(t, err)
	_, err = f.d.RotateSecret(ctx, "acme", e.ID, 0)
	require.NoError(t, err)
	require.NoError(t, f.d.DisableEndpoint(ctx, "acme", e.ID, "maintenance"))
	require.NoError(t, f.d.EnableEndpoint(ctx, "acme", e.ID))
	f.run(t)
	f.send(t, "fails")
	f.waitFor(t, "acme", webhook.StateDead, 1)
	f.send(t, "succeeds")
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	require.NoError(t, f.d.DeleteEndpoint(ctx, "acme", e.ID))

	want := []string{webhook.EventEndpointCreated, webhook.EventEndpointUpdated, webhook.EventSecretRotated, webhook.EventEndpointDisabled,
		webhook.EventEndpointEnabled, webhook.EventEndpointFailing, webhook.EventAttemptExhausted, webhook.EventEndpointRecovered, webhook.EventEndpointDeleted}
	await.True(t, func() bool { return operator.count() >= len(want) }, "waiting for %d operational webhooks", len(want))
	operator.mu.Lock()
	var got []string
	for i, body := range operator.bodies {
		var ev webhook.Event
		require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
		assert.Equal(t, "acme", ev.TenantID, "an event about the operator's own endpoint was sent")
		assert.Equal(t, e.ID, ev.EndpointID)
		assert.Equal(t, ev.Type, eventTypeOf(t, f, operator.got[i].Get("webhook-id")))
		if ev.Type == webhook.EventAttemptExhausted {
			assert.NotEmpty(t, ev.DeliveryID)
			assert.Equal(t, "fails", ev.MessageID)
			assert.Equal(t, "HTTP 500", ev.Reason)
		}
		if ev.Type == webhook.EventEndpointDisabled {
			assert.Equal(t, "maintenance", ev.Reason)
		}
		got = append(got, ev.Type)
	}
	operator.mu.Unlock()
	assert.ElementsMatch(t, want, got)

	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, heard, len(want)+1, "OnEvent hears of the operator's own endpoint too")
	assert.Equal(t, "platform", heard[0].TenantID)
}

// eventTypeOf returns the event type of the operator tenant's message.
func eventTypeOf(t *testing.T, f *deliveryFixture, messageID string) string {
	ds, err := f.store.Deliveries(context.Background(), "platform", webhook.DeliveryFilter{MessageID: messageID})
	require.NoError(t, err)
	require.NotEmpty(t, ds, "no message %s for the operator", messageID)
	return ds[0].Message.EventType
}
