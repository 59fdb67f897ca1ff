package webhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// TestSendIsIdempotentByMessageID: a retried Send of the same message
// returns the first send's count and queues nothing more; another
// payload or event type under the ID, or a retry after the window, is a
// conflict.
func TestSendIsIdempotentByMessageID(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	f.endpoint(t, webhook.EndpointSpec{URL: "https://a.example.com"})
	f.endpoint(t, webhook.EndpointSpec{URL: "https://b.example.com"})
	msg := func(eventType, payload string) *webhook.Message {
		return &webhook.Message{ID: "msg_order_42", TenantID: "acme", EventType: eventType, Payload: json.RawMessage(payload)}
	}
	n, err := f.d.Send(ctx, msg("order.paid", `{"total":42}`))
	require.NoError(t, err)
	require.Equal(t, 2, n)

	f.clock.Advance(time.Hour)
	n, err = f.d.Send(ctx, msg("order.paid", `{"total":42}`))
	require.NoError(t, err, "a retry within the window")
	assert.Equal(t, 2, n, "the first send's count")
	assert.Len(t, f.deliveries(t, "acme", ""), 2, "a retry queued more deliveries")

	_, err = f.d.Send(ctx, msg("order.paid", `{"total":43}`))
	assert.ErrorIs(t, err, webhook.ErrConflict, "another payload under the same ID")
	_, err = f.d.Send(ctx, msg("order.refunded", `{"total":42}`))
	assert.ErrorIs(t, err, webhook.ErrConflict, "another event type under the same ID")

	f.clock.Advance(webhook.DefaultIdempotencyWindow)
	_, err = f.d.Send(ctx, msg("order.paid", `{"total":42}`))
	assert.ErrorIs(t, err, webhook.ErrConflict, "a retry after the window")

	other := &webhook.Message{ID: "msg_order_42", TenantID: "globex", EventType: "order.paid", Payload: json.RawMessage(`{"total":42}`)}
	n, err = f.d.Send(ctx, other)
	require.NoError(t, err, "message IDs are per tenant")
	assert.Zero(t, n, "globex has no endpoints")
}

// TestSendManyIsIdempotent: a retried batch queues only the messages
// not sent before and counts the others' first deliveries; a changed
// message in it refuses the whole batch.
func TestSendManyIsIdempotent(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	f.endpoint(t, webhook.EndpointSpec{URL: "https://a.example.com"})
	batch := func(ids ...string) []*webhook.Message {
		var out []*webhook.Message
		for _, id := range ids {
			out = append(out, &webhook.Message{ID: id, TenantID: "acme", EventType: "a", Payload: json.RawMessage(`{"id":"` + id + `"}`)})
		}
		return out
	}
	n, err := f.d.SendMany(ctx, batch("m1", "m2"))
	require.NoError(t, err)
	require.Equal(t, 2, n)

	n, err = f.d.SendMany(ctx, batch("m1", "m2", "m3"))
	require.NoError(t, err, "a retry with one new message")
	assert.Equal(t, 3, n)
	assert.Len(t, f.deliveries(t, "acme", ""), 3, "a retried message was queued again")

	changed := batch("m4", "m1")
	changed[1].Payload = json.RawMessage(`{"id":"other"}`)
	_, err = f.d.SendMany(ctx, changed)
	assert.ErrorIs(t, err, webhook.ErrConflict)
	assert.Len(t, f.deliveries(t, "acme", ""), 3, "part of a refused batch was queued")
	_, err = f.d.SendMany(ctx, batch("m5", "m5"))
	assert.ErrorIs(t, err, webhook.ErrConflict, "one ID twice in a batch")
}
