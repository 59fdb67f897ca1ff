package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
)

func TestWindowEnding(t *testing.T) {
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	w := webhook.WindowEnding(now, time.Hour, 24)
	assert.Equal(t, time.Date(2026, 2, 2, 5, 0, 0, 0, time.UTC), w.Start, "24 hours, the last one holding now")
	assert.Equal(t, time.Date(2026, 2, 3, 5, 0, 0, 0, time.UTC), w.BucketStart(w.Count))
	require.NoError(t, w.Validate())
	buckets := w.EmptyBuckets()
	require.Len(t, buckets, 24)
	assert.Equal(t, time.Date(2026, 2, 3, 4, 0, 0, 0, time.UTC), buckets[23].Start)
	assert.Zero(t, buckets[23].Attempts)
}

func TestSuccessRate(t *testing.T) {
	_, ok := webhook.AttemptBucket{}.SuccessRate()
	assert.False(t, ok, "a rate without attempts")
	rate, ok := webhook.AttemptBucket{Attempts: 4, Succeeded: 3}.SuccessRate()
	assert.True(t, ok)
	assert.InDelta(t, 0.75, rate, 1e-9)
}

// TestAttemptHistoryOfWorkerAttempts: what a worker attempts shows in
// the dispatcher's history: a failure and the retry that succeeded, both
// timed.
func TestAttemptHistoryOfWorkerAttempts(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 500, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "msg_history")
	f.run(t)
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		return len(ds) == 1 && ds[0].Attempts == 1
	}, "the first attempt never failed")
	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)

	ctx := context.Background()
	history, err := f.d.AttemptHistory(ctx, "acme", webhook.WindowEnding(f.clock.Now(), time.Hour, 24))
	require.NoError(t, err)
	require.Len(t, history, 24)
	var total webhook.AttemptBucket
	for _, b := range history {
		total.Attempts += b.Attempts
		total.Succeeded += b.Succeeded
		if b.Attempts > 0 {
			assert.Positive(t, b.LatencyP50, "an attempt's latency was not logged")
			assert.GreaterOrEqual(t, b.LatencyP95, b.LatencyP50)
		}
	}
	assert.Equal(t, 2, total.Attempts)
	assert.Equal(t, 1, total.Succeeded)

	_, err = f.d.AttemptHistory(ctx, "acme", webhook.AttemptWindow{})
	assert.ErrorIs(t, err, webhook.ErrInvalid)
}

// queueWithoutHistory is a Queue that keeps no history.
type queueWithoutHistory struct{ webhook.Queue }

func TestAttemptHistoryUnsupported(t *testing.T) {
	f := newDeliveryFixture(t)
	d, err := webhook.NewDispatcher(f.store, queueWithoutHistory{f.store}, func(string) webhook.AEAD { return nil }, webhook.DispatcherOptions{})
	require.NoError(t, err)
	_, err = d.AttemptHistory(context.Background(), "acme", webhook.WindowEnding(time.Now(), time.Hour, 24))
	assert.ErrorIs(t, err, webhook.ErrUnsupported)
}
