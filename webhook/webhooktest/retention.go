package webhooktest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

const day = 24 * time.Hour

// attemptAll claims every delivery due at `at` and records one attempt
// for each, at `at`, moving it to the state outcome gives it (outcome
// sets NextAt of a delivery it leaves pending).
func attemptAll(t *testing.T, a Adapter, at time.Time, outcome func(d *webhook.Delivery) webhook.DeliveryState) {
	t.Helper()
	ctx := context.Background()
	claimed, err := a.Claim(ctx, at, time.Minute, 100, 100)
	require.NoError(t, err)
	for _, d := range claimed {
		d.State, d.Attempts = outcome(d), d.Attempts+1
		status := 200
		if d.State != webhook.StateSucceeded {
			status, d.LastError = 500, "HTTP 500"
		}
		require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: at, Status: status}))
	}
}

// kept lists the tenant's deliveries as "message/endpoint", sorted, and
// their messages by ID.
func kept(t *testing.T, a Adapter, tenant string) ([]string, map[string]*webhook.Message) {
	t.Helper()
	ds, err := a.Deliveries(context.Background(), tenant, webhook.DeliveryFilter{})
	require.NoError(t, err)
	var names []string
	msgs := map[string]*webhook.Message{}
	for _, d := range ds {
		names = append(names, d.Message.ID+"/"+d.EndpointID)
		msgs[d.Message.ID] = d.Message
	}
	slices.Sort(names)
	return names, msgs
}

// testRetention follows messages through a retention of 7 days for
// successes, 30 for dead letters and 2 for payloads: payloads go first,
// of messages whose deliveries all succeeded, keeping the rest of the
// message; then succeeded deliveries with their attempts, and each
// message with its last delivery, in every tenant; dead letters later;
// pending deliveries never.
func testRetention(t *testing.T, a Adapter, rq webhook.RetentionQueue) {
	ctx := context.Background()
	r := webhook.Retention{Finished: 7 * day, Dead: 30 * day, Payload: 2 * day}
	ep1, ep2 := endpoint("acme", "ep1", false), endpoint("acme", "ep2", false)
	for _, q := range []struct {
		msg *webhook.Message
		eps []*webhook.Endpoint
	}{
		{message("acme", "pending"), []*webhook.Endpoint{ep1}},    // fails, retried in 1000 days
		{message("acme", "ok"), []*webhook.Endpoint{ep1, ep2}},    // succeeds at once
		{message("acme", "dead"), []*webhook.Endpoint{ep1}},       // dies at once
		{message("acme", "mixed"), []*webhook.Endpoint{ep1, ep2}}, // succeeds to ep1, dies to ep2
		{message("acme", "late"), []*webhook.Endpoint{ep1}},       // fails, then succeeds on day 10
		{message("globex", "ok"), []*webhook.Endpoint{endpoint("globex", "ep3", false)}},
	} {
		require.NoError(t, a.Enqueue(ctx, q.msg, q.eps))
	}
	attemptAll(t, a, t0.Add(time.Minute), func(d *webhook.Delivery) webhook.DeliveryState {
		switch {
		case d.Message.ID == "ok", d.Message.ID == "mixed" && d.EndpointID == "ep1":
			return webhook.StateSucceeded
		case d.Message.ID == "dead", d.Message.ID == "mixed":
			return webhook.StateDead
		case d.Message.ID == "late":
			d.NextAt = t0.Add(10 * day)
		default:
			d.NextAt = t0.Add(1000 * day)
		}
		return webhook.StatePending
	})
	before, _ := kept(t, a, "acme")
	require.Len(t, before, 7)
	ds, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{EndpointID: "ep2", State: webhook.StateSucceeded})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	okToEp2 := ds[0].ID
	expire := func(now time.Time, want webhook.ExpireResult) {
		t.Helper()
		got, err := rq.Expire(ctx, r.At(now))
		require.NoError(t, err)
		assert.Equal(t, want, got, "expire at day %.1f", now.Sub(t0).Hours()/24)
	}

	expire(t0.Add(day), webhook.ExpireResult{})

	expire(t0.Add(3*day), webhook.ExpireResult{Payloads: 2})
	names, msgs := kept(t, a, "acme")
	assert.Equal(t, before, names, "removing payloads deleted deliveries")
	ok := msgs["ok"]
	assert.True(t, ok.PayloadExpunged(), "the payload of a message delivered 3 days ago")
	assert.Empty(t, ok.Payload)
	assert.Equal(t, "invoice.paid", ok.EventType, "the message's other fields stay")
	assert.Equal(t, "user-1", ok.Subject)
	assert.True(t, ok.CreatedAt.Equal(t0))
	for _, id := range []string{"pending", "dead", "mixed", "late"} {
		assert.False(t, msgs[id].PayloadExpunged(), "message %s has a delivery not succeeded: it keeps its payload", id)
		assert.JSONEq(t, `{"n":1}`, string(msgs[id].Payload))
	}
	_, theirs := kept(t, a, "globex")
	assert.True(t, theirs["ok"].PayloadExpunged(), "retention is the same for every tenant")

	expire(t0.Add(7*day+2*time.Minute), webhook.ExpireResult{Messages: 2, Deliveries: 4, Attempts: 4})
	names, _ = kept(t, a, "acme")
	assert.Equal(t, []string{"dead/ep1", "late/ep1", "mixed/ep2", "pending/ep1"}, names)
	names, _ = kept(t, a, "globex")
	assert.Empty(t, names)
	_, err = a.Attempts(ctx, "acme", okToEp2)
	assert.ErrorIs(t, err, webhook.ErrNotFound, "the attempts of a deleted delivery")

	attemptAll(t, a, t0.Add(10*day), func(*webhook.Delivery) webhook.DeliveryState { return webhook.StateSucceeded })
	expire(t0.Add(12*day+time.Hour), webhook.ExpireResult{Payloads: 1})
	_, msgs = kept(t, a, "acme")
	assert.True(t, msgs["late"].PayloadExpunged(), "the payload of a message delivered on its second attempt, 2 days ago")
	assert.False(t, msgs["mixed"].PayloadExpunged(), "a message with a dead letter keeps its payload for a retry")

	expire(t0.Add(29*day), webhook.ExpireResult{Messages: 1, Deliveries: 1, Attempts: 2}) // late
	names, _ = kept(t, a, "acme")
	assert.Equal(t, []string{"dead/ep1", "mixed/ep2", "pending/ep1"}, names, "dead letters are kept 30 days")

	expire(t0.Add(31*day), webhook.ExpireResult{Messages: 2, Deliveries: 2, Attempts: 2})
	expire(t0.Add(2000*day), webhook.ExpireResult{})
	names, _ = kept(t, a, "acme")
	assert.Equal(t, []string{"pending/ep1"}, names, "a pending delivery is never deleted, however old")
	ds, err = a.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
	require.NoError(t, err)
	attempts, err := a.Attempts(ctx, "acme", ds[0].ID)
	require.NoError(t, err)
	assert.Len(t, attempts, 1, "nor its attempts")
}

// testRetentionBatches: one call removes at most its batch of payloads
// and of deliveries (so of messages) and says when more remain; calls
// until none does remove everything due.
func testRetentionBatches(t *testing.T, a Adapter, rq webhook.RetentionQueue) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	for i := range 5 {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("m", i)), []*webhook.Endpoint{e}))
	}
	attemptAll(t, a, t0.Add(time.Minute), func(*webhook.Delivery) webhook.DeliveryState { return webhook.StateSucceeded })
	drain := func(e webhook.Expiry) (calls []webhook.ExpireResult) {
		t.Helper()
		for range 10 {
			res, err := rq.Expire(ctx, e)
			require.NoError(t, err)
			calls = append(calls, res)
			if !res.More {
				return calls
			}
		}
		t.Fatalf("Expire still has more after 10 calls: %+v", calls)
		return nil
	}

	calls := drain(webhook.Retention{Payload: day, Batch: 2}.At(t0.Add(2 * day)))
	total := 0
	for _, c := range calls {
		assert.LessOrEqual(t, c.Payloads, 2, "one call removed more payloads than its batch")
		assert.Zero(t, c.Deliveries)
		total += c.Payloads
	}
	assert.Equal(t, 5, total)
	assert.True(t, calls[0].More, "the first call left payloads and did not say so")

	calls = drain(webhook.Retention{Finished: 7 * day, Batch: 2}.At(t0.Add(8 * day)))
	total = 0
	for _, c := range calls {
		assert.LessOrEqual(t, c.Messages, 2, "one call deleted more messages than its batch")
		assert.LessOrEqual(t, c.Deliveries, 2, "one call deleted more deliveries than its batch")
		total += c.Messages
	}
	assert.Equal(t, 5, total)
	assert.True(t, calls[0].More, "the first call left messages and did not say so")
	names, _ := kept(t, a, "acme")
	assert.Empty(t, names)

	_, err := rq.Expire(ctx, webhook.Expiry{Succeeded: t0})
	assert.ErrorIs(t, err, webhook.ErrInvalid, "a batch of 0")
}
