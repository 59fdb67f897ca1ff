package webhooktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// testMessages lists a tenant's messages by time, filtered and a page
// at a time, never another tenant's.
func testMessages(t *testing.T, a Adapter, rq webhook.ResendQueue) {
	ctx := context.Background()
	e, other := endpoint("acme", "ep1", false), endpoint("globex", "ep2", false)
	for i := range 5 {
		m := message("acme", fmt.Sprintf("m%d", 4-i)) // IDs against time order
		m.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if i == 2 {
			m.EventType = "invoice.voided"
		}
		require.NoError(t, a.Enqueue(ctx, m, []*webhook.Endpoint{e}))
	}
	require.NoError(t, a.Enqueue(ctx, message("globex", "g1"), []*webhook.Endpoint{other}))

	ids := func(ms []*webhook.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	all, err := rq.Messages(ctx, "acme", webhook.MessageFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"m4", "m3", "m2", "m1", "m0"}, ids(all), "by creation time")
	assert.JSONEq(t, `{"n":1}`, string(all[0].Payload))
	assert.True(t, all[0].CreatedAt.Equal(t0))

	window, err := rq.Messages(ctx, "acme", webhook.MessageFilter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, []string{"m3", "m2", "m1"}, ids(window), "[since, until)")

	voided, err := rq.Messages(ctx, "acme", webhook.MessageFilter{EventType: "invoice.voided"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m2"}, ids(voided))

	var paged []string
	f := webhook.MessageFilter{Limit: 2}
	for {
		page, err := rq.Messages(ctx, "acme", f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		f.After = page[len(page)-1]
	}
	assert.Equal(t, ids(all), paged, "pages")

	for _, id := range unstorable {
		_, err := rq.Messages(ctx, "acme", webhook.MessageFilter{After: &webhook.Message{ID: id, CreatedAt: t0}})
		assert.ErrorIs(t, err, webhook.ErrInvalid, "after %q", id)
		got, err := rq.Messages(ctx, id, webhook.MessageFilter{})
		assert.NoError(t, err, "tenant %q", id)
		assert.Empty(t, got)
	}
}

// testRedeliver queues a message again, once it succeeded, and to an
// endpoint it never went to, behind what an ordered endpoint already
// has; never another tenant's message.
func testRedeliver(t *testing.T, a Adapter, rq webhook.ResendQueue) {
	ctx := context.Background()
	e, ordered := endpoint("acme", "ep1", false), endpoint("acme", "ep2", true)
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{e}))
	require.NoError(t, a.Enqueue(ctx, message("acme", "m2"), []*webhook.Endpoint{ordered}))
	claimed, err := a.Claim(ctx, t0, 2*time.Hour, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	for _, d := range claimed {
		if d.EndpointID == e.ID {
			d.State, d.Attempts = webhook.StateSucceeded, 1
			require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0, Status: 204}))
		}
	}

	at := t0.Add(time.Hour)
	again, err := rq.Redeliver(ctx, "acme", "m1", []*webhook.Endpoint{e, ordered}, at)
	require.NoError(t, err)
	require.Len(t, again, 2)
	for _, d := range again {
		assert.Equal(t, "m1", d.Message.ID)
		assert.Equal(t, webhook.StatePending, d.State)
		assert.Zero(t, d.Attempts)
		assert.True(t, d.NextAt.Equal(at), "due at %s, not %s", at, d.NextAt)
		assert.JSONEq(t, `{"n":1}`, string(d.Message.Payload))
	}
	first, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{MessageID: "m1", State: webhook.StateSucceeded})
	require.NoError(t, err)
	assert.Len(t, first, 1, "the earlier delivery stays as it was")

	next, err := a.Claim(ctx, at, time.Minute, 10, 10)
	require.NoError(t, err)
	var got []string
	for _, d := range next {
		got = append(got, d.EndpointID+"/"+d.Message.ID)
	}
	assert.ElementsMatch(t, []string{"ep1/m1"}, got, "the ordered endpoint's m1 waits behind its leased m2")

	_, err = rq.Redeliver(ctx, "acme", "nope", []*webhook.Endpoint{e}, at)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = rq.Redeliver(ctx, "globex", "m1", []*webhook.Endpoint{e}, at)
	assert.ErrorIs(t, err, webhook.ErrNotFound, "another tenant's message")
	for _, id := range unstorable {
		_, err = rq.Redeliver(ctx, "acme", id, []*webhook.Endpoint{e}, at)
		assert.ErrorIs(t, err, webhook.ErrNotFound, "message %q", id)
	}
}

// testChannels: an endpoint's channels and a message's come back from
// every read as they were stored.
func testChannels(t *testing.T, a Adapter) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	e.Channels = []string{"project-1", "project-2"}
	require.NoError(t, a.CreateEndpoint(ctx, e))
	got, err := a.GetEndpoint(ctx, "acme", "ep1")
	require.NoError(t, err)
	assert.Equal(t, e.Channels, got.Channels)
	got.Channels = []string{"project-3"}
	require.NoError(t, a.UpdateEndpoint(ctx, got))
	listed, err := a.ListEndpoints(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Equal(t, []string{"project-3"}, listed[0].Channels)

	on, off := message("acme", "on"), message("acme", "off")
	on.Channels = []string{"project-3", "billing"}
	require.NoError(t, a.Enqueue(ctx, on, []*webhook.Endpoint{e}))
	require.NoError(t, a.Enqueue(ctx, off, []*webhook.Endpoint{e}))
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	byID := map[string][]string{}
	for _, d := range claimed {
		byID[d.Message.ID] = d.Message.Channels
	}
	assert.Equal(t, map[string][]string{"on": {"project-3", "billing"}, "off": nil}, byID, "claimed")
	listedDeliveries, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{MessageID: "on"})
	require.NoError(t, err)
	require.Len(t, listedDeliveries, 1)
	assert.Equal(t, on.Channels, listedDeliveries[0].Message.Channels, "listed")
	if rq, ok := a.(webhook.ResendQueue); ok {
		msgs, err := rq.Messages(ctx, "acme", webhook.MessageFilter{})
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		for _, m := range msgs {
			assert.Equal(t, byID[m.ID], m.Channels, "Messages")
		}
	}
}
