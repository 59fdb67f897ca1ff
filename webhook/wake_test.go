package webhook_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// slowFirstClaim is a queue whose first Claim reads the queue, then
// waits for release before it answers: a claim that took its snapshot
// before new work committed.
type slowFirstClaim struct {
	*memstore.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (q *slowFirstClaim) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	batch, err := q.Store.Claim(ctx, now, lease, max, perEndpoint)
	q.once.Do(func() {
		close(q.entered)
		<-q.release
	})
	return batch, err
}

// TestWakeDuringClaimIsNotLost: a wake-up that arrives while a claim
// runs makes Run claim again even though that claim found nothing. With
// an hour's poll, only that second claim can deliver the message.
func TestWakeDuringClaimIsNotLost(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 204)
	q := &slowFirstClaim{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
	d, err := webhook.NewDispatcher(f.store, q, func(string) webhook.AEAD { return f.aead }, webhook.DispatcherOptions{Now: f.clock.Now, AllowCIDRs: loopback})
	require.NoError(t, err)
	_, _, err = d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: r.URL})
	require.NoError(t, err)
	opts := f.opts
	opts.Poll = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx, opts) }()
	t.Cleanup(func() { cancel(); <-done })

	<-q.entered // the first claim has read an empty queue
	_, err = d.Send(context.Background(), &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	require.NoError(t, err)
	close(q.release)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
}
