package sqlstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// TestReserveSharesOneSchedule books slots from two stores over one
// database, as two processes would: they share one schedule per
// endpoint, each booking the next slot, and nothing is booked beyond
// maxWait.
func TestReserveSharesOneSchedule(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			first := newStore(t, db)
			second, err := sqlstore.New(db.DB)
			require.NoError(t, err)
			stores := []*sqlstore.Store{first, second}
			const perSecond = 10 // a slot every 100 ms
			for i := range 11 {
				wait, ok, err := stores[i%2].Reserve(ctx, "ep1", perSecond, t0, time.Second)
				require.NoError(t, err)
				assert.True(t, ok, "slot %d", i)
				assert.Equal(t, time.Duration(i)*100*time.Millisecond, wait, "slot %d", i)
			}
			wait, ok, err := first.Reserve(ctx, "ep1", perSecond, t0, time.Second)
			require.NoError(t, err)
			assert.False(t, ok, "booked a slot more than maxWait ahead")
			assert.Equal(t, 1100*time.Millisecond, wait, "when the booked slots run out")

			wait, ok, err = second.Reserve(ctx, "ep2", perSecond, t0, time.Second)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Zero(t, wait, "another endpoint has its own schedule")

			wait, ok, err = first.Reserve(ctx, "ep1", perSecond, t0.Add(5*time.Second), time.Second)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Zero(t, wait, "an idle endpoint's slot is free at once")

			wait, ok, err = first.Reserve(ctx, "ep1", 0, t0, time.Second)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Zero(t, wait, "no limit")
		})
	}
}

// sealKey seals endpoint secrets for every test dispatcher, as one KMS
// key serves all of a service's processes.
var sealKey = sync.OnceValues(func() (webhook.AEAD, error) {
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		return nil, err
	}
	return fakekms.NewAEAD(uri)
})

// newDispatcher makes a dispatcher over st, as one worker process.
func newDispatcher(t *testing.T, st *sqlstore.Store) *webhook.Dispatcher {
	t.Helper()
	aead, err := sealKey()
	require.NoError(t, err)
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: loopbackCIDRs})
	require.NoError(t, err)
	return d
}

// run runs d until the test ends.
func run(t *testing.T, d *webhook.Dispatcher, opts webhook.WorkerOptions) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx, opts) }()
	t.Cleanup(func() { cancel(); <-done })
}

// sendN sends n messages to the tenant acme.
func sendN(t *testing.T, d *webhook.Dispatcher, n int) {
	for i := range n {
		_, err := d.Send(context.Background(), &webhook.Message{ID: fmt.Sprint("msg_", i), TenantID: "acme", EventType: "invoice.paid", Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
}

var loopback = webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})

// TestSharedRateLimitAcrossDispatchers runs two dispatchers, as two
// processes would, on one queue with the store as their RateLimiter: the
// endpoint gets its limit in all, not twice it.
func TestSharedRateLimitAcrossDispatchers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			const limit, n = 50.0, 51
			srv := webhooktest.NewArrivals(t)
			st := newStore(t, b.Open(t))
			opts := webhook.WorkerOptions{Concurrency: 8, PerEndpoint: 8, Client: loopback, Poll: 10 * time.Millisecond, RateLimiter: st}
			sender := newDispatcher(t, st)
			run(t, sender, opts)
			run(t, newDispatcher(t, st), opts)
			_, _, err := sender.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: srv.URL, RateLimit: limit})
			require.NoError(t, err)
			sendN(t, sender, n)
			await.True(t, func() bool { return srv.Count() >= n })
			// Two processes spacing their own deliveries reach up to twice
			// the limit. A shared schedule runs at the limit or slower; the
			// margin is for the lateness of any one arrival (the first
			// dials a connection), which shortens the measured span.
			assert.LessOrEqual(t, srv.Rate(), limit*1.1, "observed %.1f deliveries/s", srv.Rate())
		})
	}
}

// TestFarSlotPostpones: a delivery whose shared slot is more than half
// a lease away is postponed to it rather than held past its lease, and
// spends no attempt.
func TestFarSlotPostpones(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			const n = 4
			ctx := context.Background()
			srv := webhooktest.NewArrivals(t)
			st := newStore(t, b.Open(t))
			d := newDispatcher(t, st)
			_, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: srv.URL, RateLimit: 10}) // a slot every 100 ms
			require.NoError(t, err)
			sendN(t, d, n)
			// Slots more than 150 ms away are postponed: two deliveries
			// wait for theirs, the others come back later.
			run(t, d, webhook.WorkerOptions{PerEndpoint: n, Client: loopback, Poll: 5 * time.Millisecond, Lease: 300 * time.Millisecond, RateLimiter: st})
			var delivered []*webhook.Delivery
			await.True(t, func() bool {
				delivered, err = st.Deliveries(ctx, "acme", webhook.DeliveryFilter{State: webhook.StateSucceeded})
				return err == nil && len(delivered) == n
			})
			for _, del := range delivered {
				attempts, err := st.Attempts(ctx, "acme", del.ID)
				require.NoError(t, err)
				assert.Len(t, attempts, 1, "a postponement was logged as an attempt")
			}
		})
	}
}
