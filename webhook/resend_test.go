package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// TestResendAnyMessage: a message that succeeded is delivered again on
// request, and one sent before an endpoint existed reaches it; the same
// webhook-id arrives each time.
func TestResendAnyMessage(t *testing.T) {
	f := newDeliveryFixture(t)
	r, late := newReceiver(t, 204), newReceiver(t, 204)
	ctx := context.Background()
	e := f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.run(t)
	f.send(t, "m1")
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)

	d, err := f.d.Resend(ctx, "acme", "m1", e.ID)
	require.NoError(t, err)
	assert.Equal(t, e.ID, d.EndpointID)
	newcomer := f.endpoint(t, webhook.EndpointSpec{URL: late.URL})
	_, err = f.d.Resend(ctx, "acme", "m1", newcomer.ID)
	require.NoError(t, err)
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	assert.Equal(t, 2, r.count())
	assert.Equal(t, 1, late.count())
	indexOf(t, late, "m1") // the same webhook-id

	_, err = f.d.Resend(ctx, "acme", "nope", e.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = f.d.Resend(ctx, "globex", "m1", e.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound, "another tenant's endpoint and message")
	picky := f.endpoint(t, webhook.EndpointSpec{URL: r.URL, EventTypes: []string{"b"}})
	_, err = f.d.Resend(ctx, "acme", "m1", picky.ID)
	assert.ErrorIs(t, err, webhook.ErrInvalid, "an endpoint that does not take the type")
	require.NoError(t, f.d.DisableEndpoint(ctx, "acme", e.ID, "paused"))
	_, err = f.d.Resend(ctx, "acme", "m1", e.ID)
	assert.ErrorIs(t, err, webhook.ErrConflict, "a disabled endpoint")
}

// TestReplayWindow replays the messages of a time window to an endpoint:
// all of them, or only those it has no delivery of, page after page.
func TestReplayWindow(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	first := f.endpoint(t, webhook.EndpointSpec{URL: "https://a.example.com/hooks"})
	start := f.clock.Now()
	const n = 1005 // more than a page
	msgs := make([]*webhook.Message, n)
	for i := range msgs {
		msgs[i] = &webhook.Message{ID: fmt.Sprintf("m%04d", i), TenantID: "acme", EventType: "a", Payload: []byte(`{}`),
			CreatedAt: start.Add(time.Duration(i) * time.Millisecond)}
	}
	_, err := f.d.SendMany(ctx, msgs)
	require.NoError(t, err)
	second := f.endpoint(t, webhook.EndpointSpec{URL: "https://b.example.com/hooks"})
	_, err = f.d.Resend(ctx, "acme", msgs[0].ID, second.ID)
	require.NoError(t, err)

	f.clock.Advance(time.Minute)
	got, err := f.d.Replay(ctx, "acme", second.ID, webhook.ReplayOptions{Since: start, OnlyMissing: true})
	require.NoError(t, err)
	assert.Equal(t, n-1, got, "every message but the one it has")
	got, err = f.d.Replay(ctx, "acme", second.ID, webhook.ReplayOptions{Since: start, OnlyMissing: true})
	require.NoError(t, err)
	assert.Zero(t, got, "nothing is missing any more")

	got, err = f.d.Replay(ctx, "acme", first.ID, webhook.ReplayOptions{Since: start.Add(time.Second), Until: start.Add(1003 * time.Millisecond)})
	require.NoError(t, err)
	assert.Equal(t, 3, got, "the window is [since, until)")

	_, err = f.d.Replay(ctx, "globex", first.ID, webhook.ReplayOptions{})
	assert.ErrorIs(t, err, webhook.ErrNotFound, "another tenant's endpoint")
}

// TestChannelsRoute: an endpoint with channels takes only messages on
// one of them; one without takes every message of its types; resending
// keeps to the same rule.
func TestChannelsRoute(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	project1 := f.endpoint(t, webhook.EndpointSpec{URL: "https://a.example.com/hooks", Channels: []string{"project-1"}})
	all := f.endpoint(t, webhook.EndpointSpec{URL: "https://b.example.com/hooks"})
	send := func(id string, channels ...string) int {
		n, err := f.d.Send(ctx, &webhook.Message{ID: id, TenantID: "acme", EventType: "a", Payload: []byte(`{}`), Channels: channels})
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, 2, send("m1", "project-1", "eu"))
	assert.Equal(t, 1, send("m2", "project-2"))
	assert.Equal(t, 1, send("m3"))
	for id, want := range map[string][]string{"m1": {project1.ID, all.ID}, "m2": {all.ID}, "m3": {all.ID}} {
		ds, err := f.store.Deliveries(ctx, "acme", webhook.DeliveryFilter{MessageID: id})
		require.NoError(t, err)
		var got []string
		for _, d := range ds {
			got = append(got, d.EndpointID)
		}
		assert.ElementsMatch(t, want, got, id)
	}
	_, err := f.d.Resend(ctx, "acme", "m2", project1.ID)
	assert.ErrorIs(t, err, webhook.ErrInvalid, "resent to an endpoint off the message's channels")

	_, err = f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`), Channels: []string{"no spaces allowed"}})
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	_, err = f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`), Channels: make([]string, 11)})
	assert.ErrorIs(t, err, webhook.ErrInvalid, "too many channels")
	_, _, err = f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://c.example.com/hooks", Channels: []string{""}})
	assert.ErrorIs(t, err, webhook.ErrInvalid, "an empty channel")
}
