package webhook_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

const day = 24 * time.Hour

func TestRetentionAt(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    webhook.Retention
		want webhook.Expiry
	}{
		{"defaults", webhook.Retention{},
			webhook.Expiry{Succeeded: now.Add(-30 * day), Dead: now.Add(-30 * day), Batch: webhook.DefaultExpireBatch}},
		{"dead follows finished", webhook.Retention{Finished: 7 * day, Batch: 10},
			webhook.Expiry{Succeeded: now.Add(-7 * day), Dead: now.Add(-7 * day), Batch: 10}},
		{"dead longer, payloads earlier", webhook.Retention{Finished: 7 * day, Dead: 90 * day, Payload: day},
			webhook.Expiry{Succeeded: now.Add(-7 * day), Dead: now.Add(-90 * day), Payload: now.Add(-day), Batch: webhook.DefaultExpireBatch}},
		{"payloads no earlier than messages", webhook.Retention{Finished: 7 * day, Payload: 7 * day},
			webhook.Expiry{Succeeded: now.Add(-7 * day), Dead: now.Add(-7 * day), Batch: webhook.DefaultExpireBatch}},
		{"for ever", webhook.Retention{Finished: -1, Payload: day},
			webhook.Expiry{Payload: now.Add(-day), Batch: webhook.DefaultExpireBatch}},
		{"dead letters for ever", webhook.Retention{Dead: -1},
			webhook.Expiry{Succeeded: now.Add(-30 * day), Batch: webhook.DefaultExpireBatch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.r.Validate())
			assert.Equal(t, tc.want, tc.r.At(now))
		})
	}
}

func TestRetentionValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		r     webhook.Retention
	}{
		{"finished", webhook.Retention{Finished: time.Minute}},
		{"dead", webhook.Retention{Dead: 59 * time.Minute}},
		{"payload", webhook.Retention{Payload: time.Second}},
		{"batch", webhook.Retention{Batch: webhook.MaxExpireBatch + 1}},
		{"batch", webhook.Retention{Batch: -1}},
		{"every", webhook.Retention{Every: -time.Second}},
	} {
		err := tc.r.Validate()
		assert.ErrorIs(t, err, webhook.ErrInvalid, "%+v", tc.r)
		assert.ErrorContains(t, err, tc.field, "the error names the field")
	}
}

// TestDispatcherExpire: a sweep runs batch after batch until nothing
// due is left, and keeps dead letters for their own retention.
func TestDispatcherExpire(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.MaxAttempts = 1
	ok, failing := newReceiver(t, 200), newReceiver(t, 500)
	f.endpoint(t, webhook.EndpointSpec{URL: ok.URL})
	f.endpoint(t, webhook.EndpointSpec{URL: failing.URL})
	for _, id := range []string{"m1", "m2", "m3"} {
		f.send(t, id)
	}
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	f.waitFor(t, "acme", webhook.StateDead, 3)
	ctx := context.Background()
	r := webhook.Retention{Finished: 30 * day, Dead: 60 * day, Batch: 2}

	f.clock.Advance(31 * day)
	res, err := f.d.Expire(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, webhook.ExpireResult{Deliveries: 3, Attempts: 3}, res, "succeeded deliveries go; their messages stay with their dead letters")
	assert.Empty(t, f.deliveries(t, "acme", webhook.StateSucceeded))
	assert.Len(t, f.deliveries(t, "acme", webhook.StateDead), 3)

	f.clock.Advance(30 * day)
	res, err = f.d.Expire(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, webhook.ExpireResult{Messages: 3, Deliveries: 3, Attempts: 3}, res)
	assert.Empty(t, f.deliveries(t, "acme", ""))
}

// TestRunRetention: RunRetention sweeps again every r.Every, at the
// dispatcher's clock, until its context ends.
func TestRunRetention(t *testing.T) {
	f := newDeliveryFixture(t)
	ok := newReceiver(t, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: ok.URL})
	f.run(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.d.RunRetention(ctx, webhook.Retention{Every: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	for _, id := range []string{"m1", "m2"} {
		f.send(t, id)
		f.waitFor(t, "acme", webhook.StateSucceeded, 1)
		f.clock.Advance(30*day + time.Second)
		await.True(t, func() bool { return len(f.deliveries(t, "acme", "")) == 0 }, "%s is still there 30 days after it was delivered", id)
	}
	cancel()
	assert.NoError(t, <-done)
}

// TestExpireNeedsARetentionQueue: Expire and RunRetention refuse a queue
// that cannot expire, and an invalid retention.
func TestExpireNeedsARetentionQueue(t *testing.T) {
	st := memstore.New()
	seal := func(string) webhook.AEAD { return nil }
	plain, err := webhook.NewDispatcher(st, struct{ webhook.Queue }{st}, seal, webhook.DispatcherOptions{})
	require.NoError(t, err)
	_, err = plain.Expire(context.Background(), webhook.Retention{})
	assert.ErrorIs(t, err, webhook.ErrUnsupported)
	assert.ErrorIs(t, plain.RunRetention(context.Background(), webhook.Retention{}), webhook.ErrUnsupported)

	d, err := webhook.NewDispatcher(st, st, seal, webhook.DispatcherOptions{})
	require.NoError(t, err)
	_, err = d.Expire(context.Background(), webhook.Retention{Finished: time.Minute})
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	assert.ErrorIs(t, d.RunRetention(context.Background(), webhook.Retention{Finished: time.Minute}), webhook.ErrInvalid)
}
