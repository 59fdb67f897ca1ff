// Package webhooktest is the conformance suite for webhook endpoint
// stores and delivery queues. Every adapter runs it:
//
//	webhooktest.RunStoreTests(t, func(t *testing.T) webhooktest.Adapter { return mystore.New() })
//
// It also holds helpers for adapters' own tests and benchmarks:
// BenchClaims and Arrivals.
package webhooktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// Adapter stores endpoints and queues deliveries.
type Adapter interface {
	webhook.EndpointStore
	webhook.Queue
}

var t0 = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

// RunStoreTests runs the suite; newAdapter returns an empty adapter.
func RunStoreTests(t *testing.T, newAdapter func(t *testing.T) Adapter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a Adapter)
	}{
		{"Endpoints", testEndpoints},
		{"EndpointsAreTenantScoped", testEndpointsScoped},
		{"EnqueueClaimComplete", testEnqueueClaimComplete},
		{"ClaimRespectsTimeAndLeases", testLeases},
		{"ClaimIsFairAcrossEndpoints", testFairness},
		{"ClaimTakesDueOrder", testDueOrder},
		{"OrderedEndpoints", testOrdered},
		{"OrderingKeys", testOrderingKeys},
		{"OrderingKeyHeads", testOrderingKeyHeads},
		{"DeadLetters", testDeadLetters},
		{"PostponeRecordsNoAttempt", testPostpone},
		{"DeliveriesAreTenantScoped", testDeliveriesScoped},
		{"UnstorableText", testUnstorableText},
		{"Channels", testChannels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newAdapter(t)) })
	}
	runOptional(t, "Subjects", newAdapter, testSubjects)
	runOptional(t, "ErasingUnblocksOrdered", newAdapter, testEraseUnblocksOrdered)
	runOptional(t, "Stats", newAdapter, testStats)
	runOptional(t, "CompleteBatch", newAdapter, testCompleteBatch)
	runOptional(t, "EnqueueMany", newAdapter, testEnqueueMany)
	runOptional(t, "AttemptHistory", newAdapter, testAttemptHistory)
	runOptional(t, "AttemptHeadersAndEndpointHistory", newAdapter, testAttemptHeadersAndEndpointHistory)
	runOptional(t, "Retention", newAdapter, testRetention)
	runOptional(t, "RetentionBatches", newAdapter, testRetentionBatches)
	runOptional(t, "Messages", newAdapter, testMessages)
	runOptional(t, "Redeliver", newAdapter, testRedeliver)
}

// unstorable are identifiers no database text column holds: a NUL byte,
// invalid UTF-8. They arrive from request paths and queries.
var unstorable = []string{"a\x00b", "\xff", "dlv_\xc3\x28"}

// testUnstorableText: an identifier no text column can hold is not found
// (never a database error), and a list cursor made of one is invalid.
func testUnstorableText(t *testing.T, a Adapter) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	require.NoError(t, a.CreateEndpoint(ctx, e))
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{e}))
	for _, id := range unstorable {
		_, err := a.GetEndpoint(ctx, "acme", id)
		assert.ErrorIs(t, err, webhook.ErrNotFound, "GetEndpoint %q", id)
		_, err = a.GetEndpoint(ctx, id, "ep1")
		assert.ErrorIs(t, err, webhook.ErrNotFound, "GetEndpoint of tenant %q", id)
		assert.ErrorIs(t, a.DeleteEndpoint(ctx, "acme", id), webhook.ErrNotFound, "DeleteEndpoint %q", id)
		assert.ErrorIs(t, a.Requeue(ctx, "acme", id, t0), webhook.ErrNotFound, "Requeue %q", id)
		_, err = a.Attempts(ctx, "acme", id)
		assert.ErrorIs(t, err, webhook.ErrNotFound, "Attempts %q", id)
		_, err = a.Deliveries(ctx, "acme", webhook.DeliveryFilter{AfterID: id})
		assert.ErrorIs(t, err, webhook.ErrInvalid, "Deliveries after %q", id)
		got, err := a.Deliveries(ctx, id, webhook.DeliveryFilter{})
		assert.NoError(t, err, "Deliveries of tenant %q", id)
		assert.Empty(t, got)
	}
}

// testCompleteBatch completes three deliveries in one batch, one with a
// lost lease: it alone fails, with ErrConflict, and the others are
// recorded with their attempts.
func testCompleteBatch(t *testing.T, a Adapter, bq webhook.BatchQueue) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	for i := range 3 {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("m", i)), []*webhook.Endpoint{e}))
	}
	claimed, err := a.Claim(ctx, t0, time.Minute, 3, 3)
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	claimed[1].LeaseToken = "stolen"
	var cs []webhook.Completion
	for _, d := range claimed {
		d.State, d.Attempts = webhook.StateSucceeded, 1
		cs = append(cs, webhook.Completion{Delivery: d, Attempt: webhook.Attempt{At: t0.Add(time.Second), Status: 200}})
	}
	errs := bq.CompleteBatch(ctx, cs)
	require.Len(t, errs, 3)
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], webhook.ErrConflict)
	assert.NoError(t, errs[2])
	done, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{State: webhook.StateSucceeded})
	require.NoError(t, err)
	assert.Len(t, done, 2)
	attempts, err := a.Attempts(ctx, "acme", claimed[2].ID)
	require.NoError(t, err)
	assert.Len(t, attempts, 1)
}

// testEnqueueMany queues three messages of two tenants at once, in
// order for an ordered endpoint, then refuses, whole, a batch holding a
// taken message ID, or one ID twice.
func testEnqueueMany(t *testing.T, a Adapter, bq webhook.BulkQueue) {
	ctx := context.Background()
	ordered, plain, other := endpoint("acme", "ep1", true), endpoint("acme", "ep2", false), endpoint("globex", "ep3", false)
	require.NoError(t, bq.EnqueueMany(ctx, []webhook.Outgoing{
		{Message: message("acme", "m1"), Endpoints: []*webhook.Endpoint{ordered, plain}},
		{Message: message("acme", "m2"), Endpoints: []*webhook.Endpoint{ordered}},
		{Message: message("globex", "m1"), Endpoints: []*webhook.Endpoint{other}},
	}))
	acme, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
	require.NoError(t, err)
	assert.Len(t, acme, 3)
	globex, err := a.Deliveries(ctx, "globex", webhook.DeliveryFilter{})
	require.NoError(t, err)
	require.Len(t, globex, 1)
	assert.JSONEq(t, `{"n":1}`, string(globex[0].Message.Payload))

	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	var fromOrdered []string
	for _, d := range claimed {
		if d.EndpointID == ordered.ID {
			fromOrdered = append(fromOrdered, d.Message.ID)
		}
	}
	assert.Equal(t, []string{"m1"}, fromOrdered, "the ordered endpoint's first message goes first, alone")

	for name, batch := range map[string][]webhook.Outgoing{
		"a taken ID":  {{Message: message("acme", "m3"), Endpoints: []*webhook.Endpoint{plain}}, {Message: message("acme", "m2"), Endpoints: []*webhook.Endpoint{plain}}},
		"an ID twice": {{Message: message("acme", "m4"), Endpoints: []*webhook.Endpoint{plain}}, {Message: message("acme", "m4"), Endpoints: []*webhook.Endpoint{plain}}},
	} {
		err := bq.EnqueueMany(ctx, batch)
		assert.ErrorIs(t, err, webhook.ErrConflict, name)
		assert.ErrorContains(t, err, batch[1].Message.ID, name)
		after, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
		require.NoError(t, err)
		assert.Len(t, after, 3, "%s: part of the batch was queued", name)
	}
}

// runOptional runs a test of an optional interface I, skipped when the
// adapter does not implement it.
func runOptional[I any](t *testing.T, name string, newAdapter func(t *testing.T) Adapter, fn func(*testing.T, Adapter, I)) {
	t.Run(name, func(t *testing.T) {
		a := newAdapter(t)
		impl, ok := a.(I)
		if !ok {
			t.Skipf("the adapter does not implement %T", (*I)(nil))
		}
		fn(t, a, impl)
	})
}

// testStats leaves one delivery scheduled, one dead, one due and one
// succeeded, and checks the counts and the age.
func testStats(t *testing.T, a Adapter, sq webhook.StatsQueue) {
	ctx := context.Background()
	st, err := sq.Stats(ctx, t0)
	require.NoError(t, err)
	assert.Equal(t, webhook.QueueStats{}, st, "empty queue")

	e := endpoint("acme", "ep1", false)
	for i := range 4 {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("m", i)), []*webhook.Endpoint{e}))
	}
	claimed, err := a.Claim(ctx, t0.Add(time.Minute), time.Minute, 3, 3)
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	claimed[0].State, claimed[0].Attempts, claimed[0].NextAt = webhook.StatePending, 1, t0.Add(time.Hour)
	claimed[1].State, claimed[1].Attempts = webhook.StateDead, 10
	claimed[2].State, claimed[2].Attempts = webhook.StateSucceeded, 1
	for _, d := range claimed {
		require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0.Add(time.Minute), Status: 500}))
	}
	st, err = sq.Stats(ctx, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, st.Scheduled)
	assert.Equal(t, 1, st.Due)
	assert.Equal(t, 1, st.Dead)
	assert.True(t, st.OldestDue.Equal(t0), "oldest due %v, want %v", st.OldestDue, t0)

	st, err = sq.Stats(ctx, t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 0, st.Scheduled, "the retry came due")
	assert.Equal(t, 2, st.Due)
	assert.True(t, st.OldestDue.Equal(t0))
}

// testAttemptHistory logs attempts of two tenants in and around a
// window of three hours and checks one tenant's buckets: which attempts
// each holds (the start inclusive, the end exclusive), how many
// succeeded, and the latency percentiles of those that sent a request.
func testAttemptHistory(t *testing.T, a Adapter, hq webhook.HistoryQueue) {
	ctx := context.Background()
	ok := func(at, latency time.Duration) webhook.Attempt {
		return webhook.Attempt{At: t0.Add(at), Status: 200, Latency: latency}
	}
	failed := func(at, latency time.Duration) webhook.Attempt {
		return webhook.Attempt{At: t0.Add(at), Status: 500, Latency: latency, Error: "HTTP 500"}
	}
	ms := time.Millisecond
	acme := []webhook.Attempt{
		failed(-time.Microsecond, ms), // before the window
		ok(0, 10*ms), ok(30*time.Minute, 20*ms), failed(time.Hour-time.Microsecond, 30*ms),
		// An attempt that sent no request has no latency.
		{At: t0.Add(10 * time.Minute), Error: "endpoint deleted"},
		failed(3*time.Hour, ms), // the window's end
	}
	for i := range 20 { // the third hour: latencies 1 ms to 20 ms
		acme = append(acme, ok(2*time.Hour+time.Duration(i)*time.Minute, time.Duration(20-i)*ms))
	}
	logAttempts(t, a, "acme", acme)
	logAttempts(t, a, "globex", []webhook.Attempt{failed(time.Minute, time.Second)})

	w := webhook.AttemptWindow{Start: t0, Width: time.Hour, Count: 3}
	got, err := hq.AttemptHistory(ctx, "acme", w)
	require.NoError(t, err)
	want := []webhook.AttemptBucket{
		{Start: t0, Attempts: 4, Succeeded: 2, LatencyP50: 20 * ms, LatencyP95: 30 * ms},
		{Start: t0.Add(time.Hour)},
		{Start: t0.Add(2 * time.Hour), Attempts: 20, Succeeded: 20, LatencyP50: 10 * ms, LatencyP95: 19 * ms},
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.True(t, want[i].Start.Equal(got[i].Start), "bucket %d starts at %v, want %v", i, got[i].Start, want[i].Start)
		got[i].Start = want[i].Start
		assert.Equal(t, want[i], got[i], "bucket %d", i)
	}

	theirs, err := hq.AttemptHistory(ctx, "globex", webhook.AttemptWindow{Start: t0, Width: time.Hour, Count: 1})
	require.NoError(t, err)
	require.Len(t, theirs, 1)
	assert.Equal(t, 1, theirs[0].Attempts, "another tenant's attempts were counted")
	for _, id := range append([]string{"initech"}, unstorable...) {
		none, err := hq.AttemptHistory(ctx, id, w)
		require.NoError(t, err, "tenant %q", id)
		require.Len(t, none, 3)
		for _, b := range none {
			assert.Zero(t, b.Attempts, "tenant %q", id)
		}
	}
	for _, bad := range []webhook.AttemptWindow{
		{Width: time.Hour, Count: 3},
		{Start: t0, Width: time.Millisecond, Count: 3},
		{Start: t0, Width: time.Hour, Count: 0},
		{Start: t0, Width: time.Hour, Count: webhook.MaxAttemptBuckets + 1},
	} {
		_, err := hq.AttemptHistory(ctx, "acme", bad)
		assert.ErrorIs(t, err, webhook.ErrInvalid, "%+v", bad)
	}
}

// logAttempts makes one delivery per attempt to a tenant's endpoint and
// completes it with that attempt, succeeded or dead by its Error.
func logAttempts(t *testing.T, a Adapter, tenant string, attempts []webhook.Attempt) {
	ctx := context.Background()
	e := endpoint(tenant, "ep-"+tenant, false)
	for i := range attempts {
		require.NoError(t, a.Enqueue(ctx, message(tenant, fmt.Sprint("log", i)), []*webhook.Endpoint{e}))
	}
	claimed, err := a.Claim(ctx, t0, time.Hour, len(attempts), len(attempts))
	require.NoError(t, err)
	require.Len(t, claimed, len(attempts))
	for i, d := range claimed {
		d.State, d.Attempts = webhook.StateSucceeded, 1
		if attempts[i].Error != "" {
			d.State, d.LastError = webhook.StateDead, attempts[i].Error
		}
		require.NoError(t, a.Complete(ctx, d, attempts[i]))
	}
}

func testSubjects(t *testing.T, a Adapter, sq webhook.SubjectQueue) {
	ctx := context.Background()
	eps := []*webhook.Endpoint{endpoint("acme", "ep1", false), endpoint("acme", "ep2", false)}
	m1, m2, other := message("acme", "m1"), message("acme", "m2"), message("acme", "m3")
	m2.CreatedAt = t0.Add(time.Second)
	other.Subject = "user-2"
	for _, m := range []*webhook.Message{m1, m2, other} {
		require.NoError(t, a.Enqueue(ctx, m, eps))
	}
	require.NoError(t, a.Enqueue(ctx, message("globex", "m1"), []*webhook.Endpoint{endpoint("globex", "ep9", false)}))

	got, err := sq.SubjectMessages(ctx, "acme", "user-1")
	require.NoError(t, err)
	require.Len(t, got, 2, "one entry per message, not per delivery")
	assert.Equal(t, "m1", got[0].ID)
	assert.Equal(t, "m2", got[1].ID)
	assert.JSONEq(t, `{"n":1}`, string(got[0].Payload))

	n, err := sq.EraseSubject(ctx, "acme", "user-1")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	got, err = sq.SubjectMessages(ctx, "acme", "user-1")
	require.NoError(t, err)
	assert.Empty(t, got)
	left, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
	require.NoError(t, err)
	assert.Len(t, left, 2, "another subject's deliveries were erased")
	theirs, err := sq.SubjectMessages(ctx, "globex", "user-1")
	require.NoError(t, err)
	assert.Len(t, theirs, 1, "another tenant's messages were erased")
}

func endpoint(tenant, id string, ordered bool) *webhook.Endpoint {
	return &webhook.Endpoint{
		ID: id, TenantID: tenant, URL: "https://hooks.example.com/" + id, EventTypes: []string{"invoice.paid"},
		Secrets: [][]byte{[]byte("sealed-" + id)}, RateLimit: 5, Ordered: ordered,
		Metadata: map[string]string{"team": "billing"}, CreatedAt: t0, UpdatedAt: t0,
	}
}

func message(tenant, id string) *webhook.Message {
	return &webhook.Message{ID: id, TenantID: tenant, EventType: "invoice.paid", Payload: json.RawMessage(`{"n":1}`), Subject: "user-1", CreatedAt: t0}
}

func testEndpoints(t *testing.T, a Adapter) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	require.NoError(t, a.CreateEndpoint(ctx, e))
	assert.Equal(t, int64(1), e.Version)
	assert.ErrorIs(t, a.CreateEndpoint(ctx, endpoint("acme", "ep1", false)), webhook.ErrConflict)
	got, err := a.GetEndpoint(ctx, "acme", "ep1")
	require.NoError(t, err)
	assert.Equal(t, e, got)

	got.DisabledReason, got.URL = "410 Gone", "https://new.example.com"
	got.Secrets, got.PreviousSecretsUntil = [][]byte{[]byte("new"), []byte("old")}, t0.Add(24*time.Hour)
	got.Headers, got.Auth = map[string]string{"X-Team": "billing"}, []byte("sealed")
	require.NoError(t, a.UpdateEndpoint(ctx, got))
	assert.Equal(t, int64(2), got.Version)
	rotated, err := a.GetEndpoint(ctx, "acme", "ep1")
	require.NoError(t, err)
	assert.Equal(t, got.Secrets, rotated.Secrets)
	assert.Equal(t, got.Headers, rotated.Headers)
	assert.Equal(t, got.Auth, rotated.Auth)
	assert.True(t, got.PreviousSecretsUntil.Equal(rotated.PreviousSecretsUntil), "a rotation's overlap is kept: %v", rotated.PreviousSecretsUntil)
	stale := *got
	stale.Version = 1
	assert.ErrorIs(t, a.UpdateEndpoint(ctx, &stale), webhook.ErrConflict)
	again, _ := a.GetEndpoint(ctx, "acme", "ep1")
	assert.Equal(t, "410 Gone", again.DisabledReason)

	e2 := endpoint("acme", "ep2", true)
	e2.CreatedAt = t0.Add(time.Second)
	require.NoError(t, a.CreateEndpoint(ctx, e2))
	list, err := a.ListEndpoints(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "ep1", list[0].ID)
	require.NoError(t, a.DeleteEndpoint(ctx, "acme", "ep1"))
	_, err = a.GetEndpoint(ctx, "acme", "ep1")
	assert.ErrorIs(t, err, webhook.ErrNotFound)
}

func testEndpointsScoped(t *testing.T, a Adapter) {
	ctx := context.Background()
	require.NoError(t, a.CreateEndpoint(ctx, endpoint("acme", "ep1", false)))
	_, err := a.GetEndpoint(ctx, "globex", "ep1")
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	list, err := a.ListEndpoints(ctx, "globex")
	require.NoError(t, err)
	assert.Empty(t, list)
	other := endpoint("globex", "ep1", false)
	other.Version = 1
	assert.ErrorIs(t, a.UpdateEndpoint(ctx, other), webhook.ErrNotFound)
	assert.ErrorIs(t, a.DeleteEndpoint(ctx, "globex", "ep1"), webhook.ErrNotFound)
	_, err = a.GetEndpoint(ctx, "acme", "ep1")
	assert.NoError(t, err)
}

func testEnqueueClaimComplete(t *testing.T, a Adapter) {
	ctx := context.Background()
	e1, e2 := endpoint("acme", "ep1", false), endpoint("acme", "ep2", false)
	require.NoError(t, a.Enqueue(ctx, message("acme", "msg_1"), []*webhook.Endpoint{e1, e2}))
	assert.ErrorIs(t, a.Enqueue(ctx, message("acme", "msg_1"), []*webhook.Endpoint{e1}), webhook.ErrConflict)

	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	for _, d := range claimed {
		assert.Equal(t, "msg_1", d.Message.ID)
		assert.JSONEq(t, `{"n":1}`, string(d.Message.Payload))
		assert.Equal(t, "user-1", d.Message.Subject)
		assert.NotEmpty(t, d.LeaseToken)
	}
	again, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, again, "leased deliveries were claimed twice")

	ok := claimed[0]
	ok.State, ok.Attempts = webhook.StateSucceeded, 1
	require.NoError(t, a.Complete(ctx, ok, webhook.Attempt{DeliveryID: ok.ID, At: t0, Status: 200, Latency: time.Millisecond, Response: []byte("ok")}))
	retry := claimed[1]
	retry.State, retry.Attempts, retry.NextAt, retry.LastError = webhook.StatePending, 1, t0.Add(time.Hour), "HTTP 500"
	require.NoError(t, a.Complete(ctx, retry, webhook.Attempt{DeliveryID: retry.ID, At: t0, Status: 500, Error: "HTTP 500"}))

	attempts, err := a.Attempts(ctx, "acme", ok.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	assert.Equal(t, 200, attempts[0].Status)
	assert.Equal(t, "ok", string(attempts[0].Response))

	none, err := a.Claim(ctx, t0.Add(59*time.Minute), time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, none, "a delivery came back before it was due")
	due, err := a.Claim(ctx, t0.Add(time.Hour), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, retry.ID, due[0].ID)
	assert.Equal(t, 1, due[0].Attempts)
	assert.Equal(t, "HTTP 500", due[0].LastError)
}

func testLeases(t *testing.T, a Adapter) {
	ctx := context.Background()
	require.NoError(t, a.Enqueue(ctx, message("acme", "msg_1"), []*webhook.Endpoint{endpoint("acme", "ep1", false)}))
	first, err := a.Claim(ctx, t0, time.Minute, 1, 1)
	require.NoError(t, err)
	require.Len(t, first, 1)
	later, err := a.Claim(ctx, t0.Add(time.Minute), time.Minute, 1, 1)
	require.NoError(t, err)
	require.Len(t, later, 1, "an expired lease was not taken over")
	assert.NotEqual(t, first[0].LeaseToken, later[0].LeaseToken)

	first[0].State = webhook.StateSucceeded
	assert.ErrorIs(t, a.Complete(ctx, first[0], webhook.Attempt{At: t0}), webhook.ErrConflict, "a stale lease completed")
	later[0].State = webhook.StateSucceeded
	require.NoError(t, a.Complete(ctx, later[0], webhook.Attempt{At: t0}))
	assert.ErrorIs(t, a.Complete(ctx, later[0], webhook.Attempt{At: t0}), webhook.ErrConflict, "completed twice")
}

func testFairness(t *testing.T, a Adapter) {
	ctx := context.Background()
	busy, quiet := endpoint("acme", "busy", false), endpoint("acme", "quiet", false)
	for i := range 10 {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("b", i)), []*webhook.Endpoint{busy}))
	}
	require.NoError(t, a.Enqueue(ctx, message("acme", "q"), []*webhook.Endpoint{quiet}))
	claimed, err := a.Claim(ctx, t0, time.Minute, 5, 2)
	require.NoError(t, err)
	per := map[string]int{}
	for _, d := range claimed {
		per[d.EndpointID]++
	}
	assert.Equal(t, 2, per["busy"])
	assert.Equal(t, 1, per["quiet"], "the quiet endpoint starved")
}

// testDueOrder: a claim takes the deliveries that have been due longest
// first, so a backlog waiting out its backoff neither holds up nor
// crowds out what fell due meanwhile.
func testDueOrder(t *testing.T, a Adapter) {
	ctx := context.Background()
	ep := endpoint("acme", "ep", false)
	for _, id := range []string{"m1", "m2", "m3"} {
		require.NoError(t, a.Enqueue(ctx, message("acme", id), []*webhook.Endpoint{ep}))
	}
	late := message("acme", "m4")
	late.CreatedAt = t0.Add(5 * time.Second)
	require.NoError(t, a.Enqueue(ctx, late, []*webhook.Endpoint{ep}))
	first, err := a.Claim(ctx, t0, time.Minute, 2, 2)
	require.NoError(t, err)
	require.Len(t, first, 2)
	assert.Equal(t, []string{"m1", "m2"}, []string{first[0].Message.ID, first[1].Message.ID})
	// m1 fails and waits 10 s; m2 fails and waits an hour.
	for i, wait := range []time.Duration{10 * time.Second, time.Hour} {
		d := first[i]
		d.State, d.Attempts, d.NextAt = webhook.StatePending, 1, t0.Add(wait)
		require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0, Status: 500}))
	}

	// At t0+20s m3 (due t0), m4 (due t0+5s) and m1 (due t0+10s) are due,
	// in that order; m2 is not.
	var got []string
	for range 4 {
		c, err := a.Claim(ctx, t0.Add(20*time.Second), time.Minute, 1, 1)
		require.NoError(t, err)
		for _, d := range c {
			got = append(got, d.Message.ID)
		}
	}
	assert.Equal(t, []string{"m3", "m4", "m1"}, got)
}

func testOrdered(t *testing.T, a Adapter) {
	ctx := context.Background()
	ord := endpoint("acme", "ord", true)
	for _, id := range []string{"m1", "m2", "m3"} {
		require.NoError(t, a.Enqueue(ctx, message("acme", id), []*webhook.Endpoint{ord}))
	}
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	assert.Equal(t, "m1", claimed[0].Message.ID)
	d := claimed[0]
	d.State, d.Attempts, d.NextAt = webhook.StatePending, 1, t0.Add(time.Minute)
	require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0, Status: 500}))
	blocked, err := a.Claim(ctx, t0.Add(30*time.Second), time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, blocked, "m2 went ahead of a failing m1")

	next, err := a.Claim(ctx, t0.Add(time.Minute), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, next, 1)
	next[0].State, next[0].Attempts = webhook.StateDead, 2
	require.NoError(t, a.Complete(ctx, next[0], webhook.Attempt{At: t0}))
	after, err := a.Claim(ctx, t0.Add(time.Minute), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, after, 1)
	assert.Equal(t, "m2", after[0].Message.ID, "a dead-lettered message unblocks the next")

	// m2 succeeds; m1, requeued, goes ahead of m3 again.
	after[0].State, after[0].Attempts = webhook.StateSucceeded, 1
	require.NoError(t, a.Complete(ctx, after[0], webhook.Attempt{At: t0.Add(time.Minute), Status: 200}))
	require.NoError(t, a.Requeue(ctx, "acme", next[0].ID, t0.Add(2*time.Minute)))
	early, err := a.Claim(ctx, t0.Add(90*time.Second), time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, early, "m3 went ahead of the requeued m1")
	again, err := a.Claim(ctx, t0.Add(2*time.Minute), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, again, 1)
	assert.Equal(t, "m1", again[0].Message.ID)
}

// testEraseUnblocksOrdered: erasing the subject of the delivery at the
// head of an ordered endpoint lets the next one go.
func testEraseUnblocksOrdered(t *testing.T, a Adapter, sq webhook.SubjectQueue) {
	ctx := context.Background()
	ord := endpoint("acme", "ord", true)
	first, second := message("acme", "m1"), message("acme", "m2")
	second.Subject = "user-2"
	for _, m := range []*webhook.Message{first, second} {
		require.NoError(t, a.Enqueue(ctx, m, []*webhook.Endpoint{ord}))
	}
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	assert.Equal(t, "m1", claimed[0].Message.ID)
	_, err = sq.EraseSubject(ctx, "acme", "user-1")
	require.NoError(t, err)
	next, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, next, 1)
	assert.Equal(t, "m2", next[0].Message.ID)
}

func testDeadLetters(t *testing.T, a Adapter) {
	ctx := context.Background()
	e := endpoint("acme", "ep1", false)
	for i := range 5 {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("m", i)), []*webhook.Endpoint{e}))
	}
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	for i, d := range claimed {
		d.State, d.Attempts, d.LastError = webhook.StateDead, 10, "HTTP 500"
		require.NoError(t, a.Complete(ctx, d, webhook.Attempt{At: t0.Add(time.Duration(i) * time.Hour)}))
	}
	var all []*webhook.Delivery
	for after := ""; ; {
		page, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{State: webhook.StateDead, EndpointID: "ep1", AfterID: after, Limit: 2})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	assert.Len(t, all, 5)
	window, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{State: webhook.StateDead, Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)})
	require.NoError(t, err)
	assert.Len(t, window, 2)

	require.NoError(t, a.Requeue(ctx, "acme", all[0].ID, t0.Add(5*time.Hour)))
	assert.ErrorIs(t, a.Requeue(ctx, "acme", all[0].ID, t0), webhook.ErrConflict, "requeued a pending delivery")
	due, err := a.Claim(ctx, t0.Add(5*time.Hour), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, all[0].ID, due[0].ID)
}

func testDeliveriesScoped(t *testing.T, a Adapter) {
	ctx := context.Background()
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{endpoint("acme", "ep1", false)}))
	require.NoError(t, a.Enqueue(ctx, message("globex", "m1"), []*webhook.Endpoint{endpoint("globex", "ep9", false)}), "message ids are per tenant")
	assert.ErrorIs(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{endpoint("acme", "ep2", false)}), webhook.ErrConflict, "a taken message ID")
	require.NoError(t, a.Enqueue(ctx, message("acme", "m2"), []*webhook.Endpoint{endpoint("acme", "ep1", false), endpoint("acme", "ep2", false)}))
	byMessage, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{MessageID: "m2"})
	require.NoError(t, err)
	require.Len(t, byMessage, 2, "filtered by message")
	for _, d := range byMessage {
		assert.Equal(t, "m2", d.Message.ID)
	}
	mine, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{MessageID: "m1"})
	require.NoError(t, err)
	require.Len(t, mine, 1, "the tenant's own message m1 only")
	_, err = a.Attempts(ctx, "globex", mine[0].ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	assert.ErrorIs(t, a.Requeue(ctx, "globex", mine[0].ID, t0), webhook.ErrNotFound)
}

func testPostpone(t *testing.T, a Adapter) {
	ctx := context.Background()
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{endpoint("acme", "ep1", false)}))
	claimed, err := a.Claim(ctx, t0, time.Minute, 1, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	d := claimed[0]
	d.NextAt = t0.Add(time.Hour)
	require.NoError(t, a.Complete(ctx, d, webhook.Attempt{}))
	attempts, err := a.Attempts(ctx, "acme", d.ID)
	require.NoError(t, err)
	assert.Empty(t, attempts, "a postponement was logged as an attempt")
	early, err := a.Claim(ctx, t0.Add(59*time.Minute), time.Minute, 1, 1)
	require.NoError(t, err)
	assert.Empty(t, early)
	due, err := a.Claim(ctx, t0.Add(time.Hour), time.Minute, 1, 1)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Zero(t, due[0].Attempts)
}

// BenchClaims times b.N claims of 16 deliveries (at most 4 per endpoint)
// from q, each after the last claim's leases ran out, so the queue stays
// as it was; each claim must take 16.
func BenchClaims(b *testing.B, q webhook.Queue, now time.Time) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		batch, err := q.Claim(ctx, now, time.Nanosecond, 16, 4)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch) != 16 {
			b.Fatalf("claimed %d, want 16", len(batch))
		}
	}
}

// Arrivals is a loopback HTTP server that answers 200 and notes when
// each request arrives, to check the pace of deliveries.
type Arrivals struct {
	*httptest.Server
	mu    sync.Mutex
	times []time.Time
}

// NewArrivals starts an Arrivals server, closed when t ends.
func NewArrivals(t testing.TB) *Arrivals {
	a := &Arrivals{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		a.mu.Lock()
		a.times = append(a.times, time.Now())
		a.mu.Unlock()
	}))
	t.Cleanup(a.Close)
	return a
}

// Count is how many requests have arrived.
func (a *Arrivals) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times)
}

// Rate is the requests per second from the first arrival to the last.
func (a *Arrivals) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.times) < 2 {
		return 0
	}
	first, last := slices.MinFunc(a.times, time.Time.Compare), slices.MaxFunc(a.times, time.Time.Compare)
	return float64(len(a.times)-1) / last.Sub(first).Seconds()
}
