package webhooktest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// DestinationHarness is what RunDestinationTests needs of a
// webhook.Destination's adapter and of the broker behind it.
type DestinationHarness struct {
	// Scheme is the URL scheme the destination is registered under.
	Scheme string
	// Destination is the destination under test.
	Destination webhook.Destination
	// URL returns an endpoint URL, under the share of the broker the
	// destination grants tenantID, for a topic unique to name. The
	// topic need not exist yet.
	URL func(tenantID, name string) string
	// Open makes url's topic take messages (creating a stream, an
	// exchange or a subscription) and returns a function that waits for
	// the next message there.
	Open func(t *testing.T, url string) (next func(t *testing.T) ReceivedMessage)
	// FailsBeforeOpen says deliveries to a topic fail until Open makes
	// it (JetStream without a stream, RabbitMQ without an exchange), so
	// the suite checks that they are retried until it exists, and dead
	// after the last attempt. False for brokers that take any topic.
	FailsBeforeOpen bool
	// Unordered says the consumer may see a topic's messages in another
	// order than the broker took them (gocloud's mempubsub subscription
	// fetches concurrently): the ordering check then asks only that all
	// arrive.
	Unordered bool
	// Forbidden are URLs no tenant may use: the platform's internal
	// subjects or topics under the destination's scheme.
	Forbidden []string
}

// ReceivedMessage is a message as a consumer of the broker got it.
type ReceivedMessage struct {
	Header http.Header // the message's headers or attributes
	Body   []byte
}

// RunDestinationTests checks that deliveries through h.Destination
// behave as HTTP deliveries do: signed so that the consumer verifies
// them, the broker's ack recorded in the attempt log, retried while
// the broker refuses them and dead after the last attempt, resent
// from the dead letters, in order for an ordered endpoint, and
// confined to the tenant's own topics.
func RunDestinationTests(t *testing.T, h DestinationHarness) {
	t.Run("Delivered", func(t *testing.T) {
		f := newDestinationFixture(t, h)
		url := h.URL(f.tenant, "orders")
		next := h.Open(t, url)
		e, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: url, Headers: map[string]string{"X-Team": "billing"}})
		require.NoError(t, err)
		f.send(t, "msg_1", "")
		f.run(t)
		del := f.waitFor(t, webhook.StateSucceeded, 1)[0]
		got := next(t)
		assert.JSONEq(t, `{"n":"msg_1"}`, string(got.Body))
		assert.Equal(t, "billing", got.Header.Get("X-Team"))
		assert.Equal(t, "msg_1", got.Header.Get("webhook-id"))
		v, err := f.d.Verifier(t.Context(), f.tenant, webhook.VerifyOptions{}, e.ID)
		require.NoError(t, err)
		assert.NoError(t, v.Verify(got.Header, got.Body), "the consumer verifies the signature")

		attempts, err := f.d.Attempts(t.Context(), f.tenant, del.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		assert.Empty(t, attempts[0].Error)
		assert.NotEmpty(t, attempts[0].Response, "the broker's ack is recorded")
		assert.Equal(t, got.Header.Get("webhook-signature"), attempts[0].RequestHeaders["Webhook-Signature"], "the attempt records the signature sent")
	})

	t.Run("RetriedUntilTheTopicExistsThenDeadLetteredAndResent", func(t *testing.T) {
		if !h.FailsBeforeOpen {
			t.Skip("the broker takes messages for any topic: nothing fails to retry")
		}
		f := newDestinationFixture(t, h)
		f.opts.MaxAttempts = 2
		url := h.URL(f.tenant, "late")
		_, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: url})
		require.NoError(t, err)
		f.send(t, "msg_1", "")
		f.run(t)
		first := f.waitAttempts(t, "msg_1", 1)
		assert.Equal(t, webhook.StatePending, first.State, "a refused publish is retried")
		assert.NotEmpty(t, first.LastError)
		f.clock.Advance(time.Hour)
		f.d.Wake()
		dead := f.waitFor(t, webhook.StateDead, 1)[0]
		assert.Equal(t, 2, dead.Attempts, "dead after MaxAttempts")
		attempts, err := f.d.Attempts(t.Context(), f.tenant, dead.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 2)
		assert.NotEmpty(t, attempts[1].Error)
		await.True(t, func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return slices.ContainsFunc(f.events, func(ev webhook.Event) bool {
				return ev.Type == webhook.EventAttemptExhausted && ev.DeliveryID == dead.ID
			})
		}, "waiting for the exhausted delivery's operational event")

		next := h.Open(t, url)
		require.NoError(t, f.d.RetryDead(t.Context(), f.tenant, dead.ID))
		f.d.Wake()
		f.waitFor(t, webhook.StateSucceeded, 1)
		assert.Equal(t, "msg_1", next(t).Header.Get("webhook-id"), "resent from the dead letters")
	})

	t.Run("CircuitBreakerOpensOnAFailingBroker", func(t *testing.T) {
		if !h.FailsBeforeOpen {
			t.Skip("the broker takes messages for any topic: nothing fails to open the breaker")
		}
		f := newDestinationFixture(t, h)
		f.opts.Concurrency, f.opts.BreakerFailures, f.opts.BreakerOpen = 1, 2, time.Hour
		_, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: h.URL(f.tenant, "breaker")})
		require.NoError(t, err)
		for _, id := range []string{"msg_1", "msg_2", "msg_3"} {
			f.send(t, id, "")
		}
		f.run(t)
		// Two attempts fail and open the breaker; the third delivery is
		// put off until it half-opens, without spending an attempt.
		await.True(t, func() bool {
			ds, err := f.store.Deliveries(context.Background(), f.tenant, webhook.DeliveryFilter{})
			require.NoError(t, err)
			failed, postponed := 0, 0
			for _, del := range ds {
				switch {
				case del.Attempts == 1:
					failed++
				case del.Attempts == 0 && del.NextAt.After(f.clock.Now()):
					postponed++
				}
			}
			return failed == 2 && postponed == 1
		}, "waiting for two failed attempts and one delivery put off by the open breaker")
		f.mu.Lock()
		defer f.mu.Unlock()
		assert.True(t, slices.ContainsFunc(f.events, func(ev webhook.Event) bool { return ev.Type == webhook.EventEndpointFailing }),
			"the endpoint's failing is told")
	})

	t.Run("OrderedByKey", func(t *testing.T) {
		f := newDestinationFixture(t, h)
		url := h.URL(f.tenant, "ordered")
		var next func(t *testing.T) ReceivedMessage
		if !h.FailsBeforeOpen {
			next = h.Open(t, url)
		}
		_, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: url, Ordered: true})
		require.NoError(t, err)
		const n = 5
		for i := range n {
			f.send(t, fmt.Sprintf("msg_%d", i), "order-1")
		}
		f.run(t)
		if h.FailsBeforeOpen {
			// The first fails; the rest wait for it, and then follow it
			// in order.
			f.waitAttempts(t, "msg_0", 1)
			next = h.Open(t, url)
			f.clock.Advance(time.Hour)
			f.d.Wake()
		}
		f.waitFor(t, webhook.StateSucceeded, n)
		var want, got []string
		for i := range n {
			want = append(want, fmt.Sprintf("msg_%d", i))
			got = append(got, next(t).Header.Get("webhook-id"))
		}
		if h.Unordered {
			assert.ElementsMatch(t, want, got)
		} else {
			assert.Equal(t, want, got, "in the order sent")
		}
	})

	t.Run("ConfinedToTheTenant", func(t *testing.T) {
		f := newDestinationFixture(t, h)
		other := f.tenant + "x"
		refused := append([]string{h.URL(other, "orders")}, h.Forbidden...)
		for _, url := range refused {
			_, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: url})
			assert.ErrorIs(t, err, webhook.ErrInvalidURL, "%s", url)
		}
		e, _, err := f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: h.URL(f.tenant, "mine")})
		require.NoError(t, err)
		for _, url := range refused {
			_, err := f.d.UpdateEndpoint(t.Context(), f.tenant, e.ID, webhook.EndpointSpec{URL: url})
			assert.ErrorIs(t, err, webhook.ErrInvalidURL, "%s", url)
		}
		_, _, err = f.d.CreateEndpoint(t.Context(), f.tenant, webhook.EndpointSpec{URL: h.URL(f.tenant, "mine"), Auth: &webhook.EndpointAuth{Scheme: "bearer", Token: "t0ken"}})
		assert.ErrorIs(t, err, webhook.ErrInvalid, "a broker destination takes no auth")
	})
}

// destinationFixture is a dispatcher on a memory store with h's
// destination registered, for one tenant of its own.
type destinationFixture struct {
	d      *webhook.Dispatcher
	store  *memstore.Store
	clock  *testclock.Clock
	opts   webhook.WorkerOptions
	tenant string

	mu     sync.Mutex
	events []webhook.Event // the operational events heard
}

func newDestinationFixture(t *testing.T, h DestinationHarness) *destinationFixture {
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	f := &destinationFixture{store: memstore.New(), clock: testclock.New(time.Now().UTC().Truncate(time.Second)),
		tenant: "t" + strings.ToLower(rand.Text()[:12])}
	f.d, err = webhook.NewDispatcher(f.store, f.store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{
		Now: f.clock.Now, Destinations: map[string]webhook.Destination{h.Scheme: h.Destination},
		OnEvent: func(ev webhook.Event) { f.mu.Lock(); f.events = append(f.events, ev); f.mu.Unlock() },
	})
	require.NoError(t, err)
	f.opts = webhook.WorkerOptions{Poll: 2 * time.Millisecond, RetryDelay: func(n int) time.Duration { return time.Duration(n) * time.Minute }}
	return f
}

func (f *destinationFixture) send(t *testing.T, id, orderingKey string) {
	_, err := f.d.Send(t.Context(), &webhook.Message{ID: id, TenantID: f.tenant, EventType: "order.created",
		OrderingKey: orderingKey, Payload: []byte(`{"n":"` + id + `"}`)})
	require.NoError(t, err)
}

// run starts a worker until t ends.
func (f *destinationFixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx, f.opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	})
}

func (f *destinationFixture) waitFor(t *testing.T, state webhook.DeliveryState, n int) []*webhook.Delivery {
	var ds []*webhook.Delivery
	await.True(t, func() bool {
		var err error
		ds, err = f.store.Deliveries(context.Background(), f.tenant, webhook.DeliveryFilter{State: state})
		require.NoError(t, err)
		return len(ds) >= n
	}, "waiting for %d %s deliveries", n, state)
	return ds
}

// waitAttempts waits for the delivery of message id to have made n
// attempts, and returns it.
func (f *destinationFixture) waitAttempts(t *testing.T, id string, n int) *webhook.Delivery {
	var del *webhook.Delivery
	await.True(t, func() bool {
		ds, err := f.store.Deliveries(context.Background(), f.tenant, webhook.DeliveryFilter{MessageID: id})
		require.NoError(t, err)
		if len(ds) == 1 && ds[0].Attempts >= n {
			del = ds[0]
		}
		return del != nil
	}, "waiting for %d attempts", n)
	return del
}
