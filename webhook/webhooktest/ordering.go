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

// keyed is a message of acme's with an ordering key.
func keyed(id, key string) *webhook.Message {
	m := message("acme", id)
	m.OrderingKey = key
	return m
}

// claimIDs claims at now and returns the claimed deliveries and their
// messages' IDs, sorted.
func claimIDs(t *testing.T, a Adapter, now time.Time, max, perEndpoint int) ([]*webhook.Delivery, []string) {
	t.Helper()
	claimed, err := a.Claim(context.Background(), now, time.Minute, max, perEndpoint)
	require.NoError(t, err)
	ids := make([]string, len(claimed))
	for i, d := range claimed {
		ids[i] = d.Message.ID
	}
	slices.Sort(ids)
	return claimed, ids
}

// complete records an attempt at at that leaves d in state, due again
// at next when still pending.
func complete(t *testing.T, a Adapter, d *webhook.Delivery, state webhook.DeliveryState, at, next time.Time) {
	t.Helper()
	d.State, d.Attempts, d.NextAt = state, d.Attempts+1, next
	require.NoError(t, a.Complete(context.Background(), d, webhook.Attempt{At: at, Status: 500}))
}

// byMessage returns the claimed delivery of message id.
func byMessage(t *testing.T, claimed []*webhook.Delivery, id string) *webhook.Delivery {
	t.Helper()
	for _, d := range claimed {
		if d.Message.ID == id {
			return d
		}
	}
	t.Fatalf("message %s was not claimed", id)
	return nil
}

// testOrderingKeys: an ordered endpoint holds a message only behind
// earlier pending ones with the same ordering key; the messages without
// a key are one sequence; a key's order holds through failures, dead
// letters and requeues; keys mean nothing to an unordered endpoint, and
// the same key on two ordered endpoints is two sequences.
func testOrderingKeys(t *testing.T, a Adapter) {
	ctx := context.Background()
	ord, other, plain := endpoint("acme", "ord", true), endpoint("acme", "ord2", true), endpoint("acme", "plain", false)
	for _, m := range []*webhook.Message{keyed("a1", "a"), keyed("b1", "b"), keyed("a2", "a"), keyed("n1", ""), keyed("b2", "b"), keyed("n2", ""), keyed("a3", "a")} {
		require.NoError(t, a.Enqueue(ctx, m, []*webhook.Endpoint{ord, other, plain}))
	}

	claimed, _ := claimIDs(t, a, t0, 100, 100)
	got := map[string][]string{}
	for _, d := range claimed {
		got[d.EndpointID] = append(got[d.EndpointID], d.Message.ID)
		if d.EndpointID == ord.ID {
			assert.Equal(t, map[string]string{"a1": "a", "b1": "b", "n1": ""}[d.Message.ID], d.Message.OrderingKey, "ordering key of %s", d.Message.ID)
		}
	}
	for _, ep := range []string{ord.ID, other.ID} {
		slices.Sort(got[ep])
		assert.Equal(t, []string{"a1", "b1", "n1"}, got[ep], "endpoint %s: one head per key", ep)
	}
	slices.Sort(got[plain.ID])
	assert.Equal(t, []string{"a1", "a2", "a3", "b1", "b2", "n1", "n2"}, got[plain.ID], "an unordered endpoint ignores keys")

	// On ord: a1 fails and waits a minute, b1 succeeds, n1 dies. b2 and
	// n2 go at once; a2 waits behind a1 whatever else moves.
	var onOrd []*webhook.Delivery
	for _, d := range claimed {
		if d.EndpointID == ord.ID {
			onOrd = append(onOrd, d)
		}
	}
	complete(t, a, byMessage(t, onOrd, "a1"), webhook.StatePending, t0, t0.Add(time.Minute))
	complete(t, a, byMessage(t, onOrd, "b1"), webhook.StateSucceeded, t0, time.Time{})
	complete(t, a, byMessage(t, onOrd, "n1"), webhook.StateDead, t0, time.Time{})
	claimOrd := func(now time.Time, succeed bool) []string {
		t.Helper()
		claimed, _ := claimIDs(t, a, now, 100, 100)
		var ids []string
		for _, d := range claimed {
			if d.EndpointID == ord.ID {
				ids = append(ids, d.Message.ID)
				if succeed {
					complete(t, a, d, webhook.StateSucceeded, now, time.Time{})
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	assert.Equal(t, []string{"b2", "n2"}, claimOrd(t0.Add(30*time.Second), true), "other keys go on while a1 fails")
	assert.Equal(t, []string{"a1"}, claimOrd(t0.Add(time.Minute), true), "a1 is due again, and alone of its key")
	assert.Equal(t, []string{"a2"}, claimOrd(t0.Add(time.Minute), true), "a2 follows a1")

	// n1, dead and then requeued, is a head of its own again: n2 already
	// went.
	require.NoError(t, a.Requeue(ctx, "acme", byMessage(t, onOrd, "n1").ID, t0.Add(3*time.Minute)))
	assert.Equal(t, []string{"a3", "n1"}, claimOrd(t0.Add(3*time.Minute), false))

	if rq, ok := a.(webhook.ResendQueue); ok {
		kept, err := rq.Messages(ctx, "acme", webhook.MessageFilter{})
		require.NoError(t, err)
		keys := map[string]string{}
		for _, m := range kept {
			keys[m.ID] = m.OrderingKey
		}
		assert.Equal(t, map[string]string{"a1": "a", "a2": "a", "a3": "a", "b1": "b", "b2": "b", "n1": "", "n2": ""}, keys, "kept ordering keys")
	}
}

// testOrderingKeyHeads: with many keys, a claim takes the head of every
// key and only the heads, at most perEndpoint of one endpoint, longest
// due first; a redelivered message joins the end of its own key's
// sequence.
func testOrderingKeyHeads(t *testing.T, a Adapter) {
	ctx := context.Background()
	ord := endpoint("acme", "ord", true)
	const keys, each = 40, 3
	for i := range each {
		for k := range keys {
			m := keyed(fmt.Sprintf("m-%02d-%d", k, i), fmt.Sprintf("customer-%02d", k))
			m.CreatedAt = t0.Add(time.Duration(i*keys+k) * time.Millisecond)
			require.NoError(t, a.Enqueue(ctx, m, []*webhook.Endpoint{ord}))
		}
	}
	now := t0.Add(time.Second)
	few, ids := claimIDs(t, a, now, 100, 5)
	assert.Len(t, few, 5, "perEndpoint caps the heads taken from one endpoint")
	assert.Equal(t, []string{"m-00-0", "m-01-0", "m-02-0", "m-03-0", "m-04-0"}, ids, "longest due first")
	rest, ids := claimIDs(t, a, now, 100, 100)
	require.Len(t, rest, keys-5, "every other key's head, and nothing behind a head")
	for _, id := range ids {
		assert.Equal(t, "0", id[len(id)-1:], "claimed %s, behind its key's head", id)
	}
	for _, d := range append(few, rest...) {
		complete(t, a, d, webhook.StateSucceeded, now, time.Time{})
	}
	second, ids := claimIDs(t, a, now, 100, 100)
	require.Len(t, second, keys)
	for _, id := range ids {
		assert.Equal(t, "1", id[len(id)-1:], "claimed %s after the heads succeeded", id)
	}

	rq, ok := a.(webhook.ResendQueue)
	if !ok {
		return
	}
	// m-07-0 goes again: behind m-07-1 (leased) and m-07-2, and nothing
	// else.
	again, err := rq.Redeliver(ctx, "acme", "m-07-0", []*webhook.Endpoint{ord}, now)
	require.NoError(t, err)
	require.Len(t, again, 1)
	for _, d := range second {
		complete(t, a, d, webhook.StateSucceeded, now, time.Time{})
	}
	third, ids := claimIDs(t, a, now, 100, 100)
	require.Len(t, third, keys)
	assert.NotContains(t, ids, "m-07-0", "the resent message went ahead of its key's pending m-07-2")
	for _, d := range third {
		complete(t, a, d, webhook.StateSucceeded, now, time.Time{})
	}
	_, ids = claimIDs(t, a, now, 100, 100)
	assert.Equal(t, []string{"m-07-0"}, ids, "the resent message, last of its key")
}

// testAttemptHeadersAndEndpointHistory: an attempt's recorded headers
// come back with it, and an endpoint's history counts its attempts only.
func testAttemptHeadersAndEndpointHistory(t *testing.T, a Adapter, hq webhook.HistoryQueue) {
	ctx := context.Background()
	one, two := endpoint("acme", "ep-one", false), endpoint("acme", "ep-two", false)
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{one, two}))
	require.NoError(t, a.Enqueue(ctx, message("acme", "m2"), []*webhook.Endpoint{one}))
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	sent := map[string]string{"Content-Type": "application/json", "Webhook-Id": "m1", "Authorization": "[redacted]"}
	received := map[string]string{"X-Receiver": "ok"}
	for _, d := range claimed {
		d.State, d.Attempts = webhook.StateSucceeded, 1
		require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0.Add(time.Minute), Status: 200, Latency: time.Millisecond,
			RequestHeaders: sent, ResponseHeaders: received}))
	}
	log, err := a.Attempts(ctx, "acme", claimed[0].ID)
	require.NoError(t, err)
	require.Len(t, log, 1)
	assert.Equal(t, sent, log[0].RequestHeaders)
	assert.Equal(t, received, log[0].ResponseHeaders)

	w := webhook.AttemptWindow{Start: t0, Width: time.Hour, Count: 1}
	all, err := hq.AttemptHistory(ctx, "acme", w)
	require.NoError(t, err)
	assert.Equal(t, 3, all[0].Attempts)
	for id, want := range map[string]int{"ep-one": 2, "ep-two": 1, "ep-none": 0, "\xff": 0} {
		w.EndpointID = id
		got, err := hq.AttemptHistory(ctx, "acme", w)
		require.NoError(t, err, id)
		assert.Equal(t, want, got[0].Attempts, "endpoint %q", id)
	}
	w.EndpointID = "ep-one"
	theirs, err := hq.AttemptHistory(ctx, "globex", w)
	require.NoError(t, err)
	assert.Zero(t, theirs[0].Attempts, "another tenant asking for acme's endpoint")
}
