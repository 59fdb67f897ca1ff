package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// receiver records what reaches it and answers with the statuses it is
// given, one per request (the last repeats).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	header   http.Header
	got      []http.Header
	bodies   []string
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req.Header.Clone())
		r.bodies = append(r.bodies, string(body))
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type deliveryFixture struct {
	aead  webhook.AEAD // seals the endpoints' secrets
	d     *webhook.Dispatcher
	store *memstore.Store
	clock *testclock.Clock
	opts  webhook.WorkerOptions
}

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	f := &deliveryFixture{aead: aead, store: memstore.New(), clock: testclock.New(time.Now().UTC().Truncate(time.Second))}
	f.d, err = webhook.NewDispatcher(f.store, f.store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{Now: f.clock.Now, AllowCIDRs: loopback})
	require.NoError(t, err)
	f.opts = webhook.WorkerOptions{
		Poll:  2 * time.Millisecond,
		Lease: time.Minute,
		Client: webhook.NewDeliveryClient(webhook.DeliveryClientOptions{
			AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second,
		}),
		RetryDelay: func(n int) time.Duration { return time.Duration(n) * time.Minute },
	}
	return f
}

// run starts a worker for the test's duration.
func (f *deliveryFixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.d.Run(ctx, f.opts) }()
	t.Cleanup(func() { cancel(); <-done })
}

// endpoint creates an endpoint of tenant acme.
func (f *deliveryFixture) endpoint(t *testing.T, spec webhook.EndpointSpec) *webhook.Endpoint {
	e, _, err := f.d.CreateEndpoint(context.Background(), "acme", spec)
	require.NoError(t, err)
	return e
}

// send sends an event of type "a" for tenant acme.
func (f *deliveryFixture) send(t *testing.T, id string) {
	_, err := f.d.Send(context.Background(), &webhook.Message{ID: id, TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	require.NoError(t, err)
}

func (f *deliveryFixture) deliveries(t *testing.T, tenant string, state webhook.DeliveryState) []*webhook.Delivery {
	ds, err := f.store.Deliveries(context.Background(), tenant, webhook.DeliveryFilter{State: state})
	require.NoError(t, err)
	return ds
}

func (f *deliveryFixture) waitFor(t *testing.T, tenant string, state webhook.DeliveryState, n int) []*webhook.Delivery {
	var ds []*webhook.Delivery
	await.True(t, func() bool {
		ds = f.deliveries(t, tenant, state)
		return len(ds) >= n
	}, "waiting for %d %s deliveries", n, state)
	return ds
}

func TestDeliverySignedAndLogged(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 200)
	ctx := context.Background()
	ep, secret, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: r.URL + "/hooks", EventTypes: []string{"invoice.paid"}})
	require.NoError(t, err)
	assert.NotContains(t, string(ep.Secrets[0]), secret[6:], "the secret is stored in the clear")

	n, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: []byte(`{"id":"in_1"}`)})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "user.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	assert.Zero(t, n, "an unsubscribed event type was queued")
	n, err = f.d.Send(ctx, &webhook.Message{TenantID: "globex", EventType: "invoice.paid", Payload: []byte(`{}`)})
	require.NoError(t, err)
	assert.Zero(t, n, "another tenant's endpoint got a message")

	f.run(t)
	done := f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	require.Equal(t, 1, r.count())
	v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: f.clock.Now}, secret)
	require.NoError(t, err)
	assert.NoError(t, v.Verify(r.got[0], []byte(r.bodies[0])), "the receiver cannot verify the signature")
	assert.Equal(t, done[0].Message.ID, r.got[0].Get("webhook-id"))
	attempts, err := f.store.Attempts(ctx, "acme", done[0].ID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	assert.Equal(t, 200, attempts[0].Status)
}

func TestRetriesKeepTheMessageID(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 500, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "msg_retry")
	f.run(t)

	await.True(t, func() bool { return r.count() == 1 })
	f.waitFor(t, "acme", webhook.StatePending, 1)
	await.True(t, func() bool {
		return f.deliveries(t, "acme", webhook.StatePending)[0].Attempts == 1
	})
	pending := f.deliveries(t, "acme", webhook.StatePending)
	assert.Equal(t, f.clock.Now().Add(time.Minute), pending[0].NextAt)
	assert.Equal(t, "HTTP 500", pending[0].LastError)

	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	assert.Equal(t, 2, r.count())
	assert.Equal(t, "msg_retry", r.got[0].Get("webhook-id"))
	assert.Equal(t, "msg_retry", r.got[1].Get("webhook-id"))
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 410)
	ctx := context.Background()
	ep := f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "")
	f.run(t)
	dead := f.waitFor(t, "acme", webhook.StateDead, 1)
	assert.Contains(t, dead[0].LastError, "410")
	got, err := f.store.GetEndpoint(ctx, "acme", ep.ID)
	require.NoError(t, err)
	assert.Equal(t, "410 Gone", got.DisabledReason)
	n, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	require.NoError(t, err)
	assert.Zero(t, n, "a disabled endpoint got a message")
}

func TestRedirectsAreFailuresAndRetryAfterIsHonoured(t *testing.T) {
	f := newDeliveryFixture(t)
	redirect := newReceiver(t, 302)
	throttle := newReceiver(t, 429)
	throttle.header.Set("Retry-After", "7200")
	ctx := context.Background()
	for _, r := range []*receiver{redirect, throttle} {
		_, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: r.URL})
		require.NoError(t, err)
	}
	_, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	require.NoError(t, err)
	f.run(t)
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		return len(ds) == 2 && ds[0].Attempts == 1 && ds[1].Attempts == 1
	})
	next := map[string]time.Time{}
	for _, d := range f.deliveries(t, "acme", webhook.StatePending) {
		next[d.LastError] = d.NextAt
	}
	assert.Equal(t, f.clock.Now().Add(time.Minute), next["HTTP 302"], "a redirect is a plain failure")
	assert.Equal(t, f.clock.Now().Add(2*time.Hour), next["HTTP 429"], "Retry-After ignored")
	assert.Equal(t, 1, redirect.count(), "the redirect was followed")
}

func TestDeadLettersAndRetry(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.MaxAttempts = 2
	r := newReceiver(t, 500, 500, 200)
	ctx := context.Background()
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "")
	f.run(t)
	// Advance the clock past the retry only once the first attempt is
	// recorded: earlier, its lease would have run out too, and a second
	// worker would take the delivery over mid-completion.
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		return len(ds) == 1 && ds[0].Attempts == 1
	}, "the first attempt was never recorded")
	f.clock.Advance(time.Hour)
	dead := f.waitFor(t, "acme", webhook.StateDead, 1)
	assert.Equal(t, 2, dead[0].Attempts)

	assert.ErrorIs(t, f.d.RetryDead(ctx, "globex", dead[0].ID), webhook.ErrNotFound, "another tenant retried it")
	require.NoError(t, f.d.RetryDead(ctx, "acme", dead[0].ID))
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	assert.ErrorIs(t, f.d.RetryDead(ctx, "acme", dead[0].ID), webhook.ErrConflict, "only dead deliveries can be retried")
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 200)
	ctx := context.Background()
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "")

	// A worker claims the delivery and dies.
	lost, err := f.store.Claim(ctx, f.clock.Now(), time.Minute, 10, 10)
	require.NoError(t, err)
	require.Len(t, lost, 1)
	f.run(t)
	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	assert.Equal(t, 1, r.count())

	// The dead worker's late report cannot overwrite the outcome.
	lost[0].State = webhook.StateDead
	assert.ErrorIs(t, f.store.Complete(ctx, lost[0], webhook.Attempt{At: f.clock.Now()}), webhook.ErrConflict)
}

func TestOrderedEndpointWaitsForTheMessageBefore(t *testing.T) {
	f := newDeliveryFixture(t)
	var order []string
	var mu sync.Mutex
	var fails atomic.Int32
	fails.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		order = append(order, req.Header.Get("webhook-id"))
		mu.Unlock()
		if fails.Add(-1) >= 0 {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, Ordered: true})
	for _, id := range []string{"msg_1", "msg_2", "msg_3"} {
		f.send(t, id)
	}
	f.run(t)
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		return len(ds) == 3 && ds[0].Attempts+ds[1].Attempts+ds[2].Attempts == 1
	})
	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	assert.Equal(t, []string{"msg_1", "msg_1", "msg_2", "msg_3"}, order, "msg_2 went out while msg_1 was failing")
}

// TestOrderingKeysHoldOnlyTheirOwnSequence: on an ordered endpoint, a
// failing message holds back the later ones with its ordering key and
// no others.
func TestOrderingKeysHoldOnlyTheirOwnSequence(t *testing.T) {
	f := newDeliveryFixture(t)
	var (
		mu    sync.Mutex
		order []string
		fails atomic.Int32
	)
	fails.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		order = append(order, req.Header.Get("webhook-id"))
		mu.Unlock()
		if req.Header.Get("webhook-id") == "a_1" && fails.Add(-1) >= 0 {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, Ordered: true})
	for _, m := range [][2]string{{"a_1", "invoice-a"}, {"b_1", "invoice-b"}, {"a_2", "invoice-a"}, {"b_2", "invoice-b"}} {
		_, err := f.d.Send(context.Background(), &webhook.Message{ID: m[0], TenantID: "acme", EventType: "a", Payload: []byte(`{}`), OrderingKey: m[1]})
		require.NoError(t, err)
	}
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, 2) // b_1 and b_2, while a_1 fails and a_2 waits
	mu.Lock()
	sent := slices.Clone(order)
	mu.Unlock()
	assert.Less(t, slices.Index(sent, "b_1"), slices.Index(sent, "b_2"), "key b out of order: %v", sent)
	assert.NotContains(t, sent, "a_2", "a_2 went out while a_1 was failing")
	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 4)
	mu.Lock()
	defer mu.Unlock()
	var a []string
	for _, id := range order {
		if strings.HasPrefix(id, "a_") {
			a = append(a, id)
		}
	}
	assert.Equal(t, []string{"a_1", "a_1", "a_2"}, a, "key a: %v", order)
}

func TestOrderingKeyIsValidated(t *testing.T) {
	f := newDeliveryFixture(t)
	f.endpoint(t, webhook.EndpointSpec{URL: "https://hooks.example.com/in", Ordered: true})
	for _, key := range []string{strings.Repeat("k", 257), "a\x00b", "a\nb", "\xff"} {
		_, err := f.d.Send(context.Background(), &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`), OrderingKey: key})
		assert.ErrorIs(t, err, webhook.ErrInvalid, "key %q", key)
		assert.ErrorContains(t, err, "ordering key")
	}
	_, err := f.d.Send(context.Background(), &webhook.Message{ID: "m1", TenantID: "acme", EventType: "a", Payload: []byte(`{}`), OrderingKey: "customer 42 · é"})
	require.NoError(t, err)
	_, err = f.d.Send(context.Background(), &webhook.Message{ID: "m1", TenantID: "acme", EventType: "a", Payload: []byte(`{}`), OrderingKey: "customer 43"})
	assert.ErrorIs(t, err, webhook.ErrConflict, "the same message ID with another ordering key")
}

func TestPrivateAddressesAreRefusedByDefault(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.Client = nil // the default client: SSRF protection on
	r := newReceiver(t, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "")
	f.run(t)
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		return len(ds) == 1 && ds[0].Attempts == 1
	})
	assert.Contains(t, f.deliveries(t, "acme", webhook.StatePending)[0].LastError, "not allowed")
	assert.Zero(t, r.count())
}

func TestSendAndCreateEndpointValidate(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	for _, spec := range []webhook.EndpointSpec{
		{URL: "ftp://x.example"}, {URL: "/relative"}, {URL: "https://u:p@x.example"},
		{URL: "https://x.example", EventTypes: []string{"bad type"}}, {URL: "https://x.example", RateLimit: -1},
		{URL: "https://x.example", RateLimit: 1e-9}, {URL: "https://x.example", RateLimit: 2e6}, {URL: "https://x.example", RateLimit: math.NaN()},
	} {
		_, _, err := f.d.CreateEndpoint(ctx, "acme", spec)
		assert.Error(t, err, "%+v", spec)
	}
	_, _, err := f.d.CreateEndpoint(ctx, "", webhook.EndpointSpec{URL: "https://x.example"})
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	_, _, err = f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://x.example"})
	require.NoError(t, err)
	for _, m := range []*webhook.Message{
		{TenantID: "acme", EventType: "a", Payload: []byte(`{not json`)},
		{TenantID: "acme", EventType: "bad type", Payload: []byte(`{}`)},
		{TenantID: "acme", EventType: "a", Payload: make([]byte, 2<<20)},
		{TenantID: "", EventType: "a", Payload: []byte(`{}`)},
		{ID: "has.dot", TenantID: "acme", EventType: "a", Payload: []byte(`{}`)},
	} {
		_, err := f.d.Send(ctx, m)
		assert.ErrorIs(t, err, webhook.ErrInvalid)
	}
	assert.Empty(t, f.deliveries(t, "acme", ""), "a refused message left a delivery")
}

func TestCircuitBreakerSparesAttempts(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.BreakerFailures, f.opts.BreakerProbes, f.opts.BreakerOpen = 2, 1, time.Minute
	f.opts.RetryDelay = func(int) time.Duration { return time.Hour }
	f.opts.PerEndpoint = 1
	f.opts.Concurrency = 1
	var failing atomic.Bool
	failing.Store(true)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if failing.Load() {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL})
	for range 5 {
		f.send(t, "")
	}
	f.run(t)
	// Two failures open the breaker; the other three wait, unattempted.
	await.True(t, func() bool {
		ds := f.deliveries(t, "acme", webhook.StatePending)
		waiting := 0
		for _, d := range ds {
			if d.Attempts == 0 && d.NextAt.Equal(f.clock.Now().Add(time.Minute)) {
				waiting++
			}
		}
		return waiting == 3
	})
	assert.EqualValues(t, 2, hits.Load())

	// After the open period one probe goes through; its success closes
	// the breaker and the rest follow.
	failing.Store(false)
	f.clock.Advance(time.Minute)
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	assert.EqualValues(t, 5, hits.Load())
}

func TestRateLimitIsEnforced(t *testing.T) {
	f := newDeliveryFixture(t)
	const limit, n = 200.0, 101
	srv := webhooktest.NewArrivals(t)
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, RateLimit: limit})
	for range n {
		f.send(t, "")
	}
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, n)
	// The limiter may run slower on a loaded machine, never faster. The
	// receiver sees arrivals, not the limiter's slots: one request's
	// latency jitter over the half-second run is a few percent.
	assert.LessOrEqual(t, srv.Rate(), limit*1.05, "observed %.1f deliveries/s", srv.Rate())
}

// TestRateLimitPostponesRatherThanOutwaitLease: a delivery whose slot
// comes too late to be posted within its lease is postponed to it,
// spending no attempt, instead of being held while its lease runs out.
func TestRateLimitPostponesRatherThanOutwaitLease(t *testing.T) {
	f := newDeliveryFixture(t)
	// With a 2 s request limit, a 2.4 s lease leaves 0.4 s to wait for a
	// slot; at 2 per second the second delivery's is 0.5 s away.
	f.opts.Lease = 2400 * time.Millisecond
	srv := webhooktest.NewArrivals(t)
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, RateLimit: 2})
	for range 3 {
		f.send(t, "")
	}
	f.run(t)
	await.True(t, func() bool {
		f.clock.Advance(100 * time.Millisecond)
		return f.count(t, webhook.StateSucceeded) == 3
	})
	for _, d := range f.deliveries(t, "acme", webhook.StateSucceeded) {
		attempts, err := f.store.Attempts(context.Background(), "acme", d.ID)
		require.NoError(t, err)
		assert.Len(t, attempts, 1, "a postponement spent an attempt")
	}
}

// brokenLimiter is a shared RateLimiter whose store is down.
type brokenLimiter struct{ calls atomic.Int32 }

func (b *brokenLimiter) Reserve(context.Context, string, float64, time.Time, time.Duration) (time.Duration, bool, error) {
	b.calls.Add(1)
	return 0, false, errors.New("database unreachable")
}

// TestBrokenSharedLimiterFallsBack: when the shared rate limiter fails,
// deliveries still go, spaced by the process's own limiter.
func TestBrokenSharedLimiterFallsBack(t *testing.T) {
	f := newDeliveryFixture(t)
	limiter := &brokenLimiter{}
	f.opts.RateLimiter = limiter
	var logs syncBuffer
	f.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	srv := webhooktest.NewArrivals(t)
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, RateLimit: 1000})
	for range 3 {
		f.send(t, "")
	}
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	assert.EqualValues(t, 3, limiter.calls.Load(), "each delivery asked the shared limiter first")
	assert.Contains(t, logs.String(), "shared rate limiter failed")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLongFailingEndpointIsDisabled(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.DisableAfter = 48 * time.Hour
	f.opts.BreakerFailures = 100
	var events []webhook.Event
	var mu sync.Mutex
	f.opts.OnEvent = func(e webhook.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	r := newReceiver(t, 500)
	ep := f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "")
	f.run(t)
	await.True(t, func() bool { return r.count() == 1 })
	await.True(t, func() bool {
		got, _ := f.store.GetEndpoint(context.Background(), "acme", ep.ID)
		return !got.FailingSince.IsZero()
	})
	f.clock.Advance(49 * time.Hour)
	await.True(t, func() bool { return r.count() == 2 })
	await.True(t, func() bool {
		got, _ := f.store.GetEndpoint(context.Background(), "acme", ep.ID)
		return got.DisabledReason != ""
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 2)
	assert.Equal(t, webhook.EventEndpointFailing, events[0].Type, "the run of failures began")
	assert.Equal(t, webhook.EventEndpointDisabled, events[1].Type)
	assert.Equal(t, ep.ID, events[1].EndpointID)
}

func TestSubjectExportAndErase(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	f.endpoint(t, webhook.EndpointSpec{URL: "https://hooks.example.com/x"})
	_, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "user.updated", Subject: "user-7", Payload: []byte(`{"email":"a@example.com"}`)})
	require.NoError(t, err)
	msgs, err := f.d.ExportSubject(ctx, "acme", "user-7")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.JSONEq(t, `{"email":"a@example.com"}`, string(msgs[0].Payload))
	n, err := f.d.EraseSubject(ctx, "acme", "user-7")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = f.d.EraseSubject(ctx, "acme", "")
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	_, err = f.d.SendTx(ctx, nil, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	assert.ErrorIs(t, err, webhook.ErrUnsupported, "the in-memory queue has no transactions")
}

func TestRenderForPinnedVersion(t *testing.T) {
	f := newDeliveryFixture(t)
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	var err error
	f.d, err = webhook.NewDispatcher(f.store, f.store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{
		AllowCIDRs: loopback,
		Now:        f.clock.Now,
		Render: func(_ context.Context, e *webhook.Endpoint, m *webhook.Message) ([]byte, error) {
			return []byte(`{"version":"` + e.APIVersion + `","data":` + string(m.Payload) + `}`), nil
		},
	})
	require.NoError(t, err)
	r := newReceiver(t, 200)
	_, secret, err := f.d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: r.URL, APIVersion: "2024-01-01"})
	require.NoError(t, err)
	f.send(t, "")
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	assert.JSONEq(t, `{"version":"2024-01-01","data":{}}`, r.bodies[0])
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{Now: f.clock.Now}, secret)
	assert.NoError(t, v.Verify(r.got[0], []byte(r.bodies[0])), "the rendered body is not what was signed")
}

func TestRecoverAWindowOfFailures(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.MaxAttempts = 1
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	ep := f.endpoint(t, webhook.EndpointSpec{URL: srv.URL})
	const n = 1500 // more than one page of 1000
	for range n {
		f.send(t, "")
	}
	f.opts.BreakerFailures = n + 1
	f.opts.Concurrency, f.opts.PerEndpoint = 64, 64
	f.run(t)
	start := f.clock.Now()
	await.True(t, func() bool { return f.count(t, webhook.StateDead) == n })

	healthy.Store(true)
	got, err := f.d.Recover(context.Background(), "acme", ep.ID, start, start.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, n, got)
	await.True(t, func() bool { return f.count(t, webhook.StateSucceeded) == n })
}

// count pages through the deliveries of tenant acme in a state.
func (f *deliveryFixture) count(t *testing.T, state webhook.DeliveryState) int {
	n := 0
	for after := ""; ; {
		page, err := f.store.Deliveries(context.Background(), "acme", webhook.DeliveryFilter{State: state, AfterID: after})
		require.NoError(t, err)
		if len(page) == 0 {
			return n
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
}

func TestDispatcherVerifierTrustsEndpointSecrets(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	e1, s1, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://a.example.com"})
	require.NoError(t, err)
	_, s2, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://b.example.com"})
	require.NoError(t, err)
	sign := func(secret string) http.Header {
		s, _ := webhook.NewSigner(secret)
		h := http.Header{}
		require.NoError(t, s.SetHeaders(h, "msg_1", f.clock.Now(), []byte("{}")))
		return h
	}
	all, err := f.d.Verifier(ctx, "acme", webhook.VerifyOptions{Now: f.clock.Now})
	require.NoError(t, err)
	assert.NoError(t, all.Verify(sign(s1), []byte("{}")))
	assert.NoError(t, all.Verify(sign(s2), []byte("{}")))
	one, err := f.d.Verifier(ctx, "acme", webhook.VerifyOptions{Now: f.clock.Now}, e1.ID)
	require.NoError(t, err)
	assert.ErrorIs(t, one.Verify(sign(s2), []byte("{}")), webhook.ErrNoMatch)
	_, err = f.d.Verifier(ctx, "globex", webhook.VerifyOptions{}, e1.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
}

func TestSlowEndpointCannotTakeEverySlot(t *testing.T) {
	f := newDeliveryFixture(t)
	f.opts.Concurrency, f.opts.PerEndpoint = 8, 2
	release := make(chan struct{})
	var inflight, peak atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
	}))
	defer slow.Close()
	defer close(release)
	fast := newReceiver(t, 200)
	ctx := context.Background()
	_, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: slow.URL, EventTypes: []string{"slow"}})
	require.NoError(t, err)
	_, _, err = f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: fast.URL, EventTypes: []string{"fast"}})
	require.NoError(t, err)
	for range 10 {
		_, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "slow", Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
	for range 5 {
		_, err := f.d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "fast", Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
	f.run(t)
	await.True(t, func() bool { return fast.count() == 5 }, "a slow endpoint starved a fast one")
	assert.LessOrEqual(t, peak.Load(), int32(2), "more than PerEndpoint attempts in flight to one endpoint")
}

// TestSendWakesIdleWorker: with a poll interval of an hour, a message
// sent in the same process is delivered at once.
func TestSendWakesIdleWorker(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	claims := &signalledClaims{Queue: f.store, claimed: make(chan int, 16)}
	d, err := webhook.NewDispatcher(f.store, claims, func(string) webhook.AEAD { return f.aead }, webhook.DispatcherOptions{AllowCIDRs: loopback})
	require.NoError(t, err)
	f.d = d
	f.opts.Poll = time.Hour // only a wake-up can start a second claim
	f.run(t)
	require.Zero(t, <-claims.claimed, "Run's first claim finds nothing: it is idle now")
	f.send(t, "msg_wake")
	await.True(t, func() bool { return r.count() == 1 }, "Send did not wake the idle worker")
}

// signalledClaims is a queue that says how many deliveries each claim
// took, once it has returned.
type signalledClaims struct {
	webhook.Queue
	claimed chan int
}

func (q *signalledClaims) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	ds, err := q.Queue.Claim(ctx, now, lease, max, perEndpoint)
	select {
	case q.claimed <- len(ds):
	default:
	}
	return ds, err
}

// TestBusyEndpointTakesTheNextDeliveryAtOnce: a worker holding back
// deliveries for an endpoint that has PerEndpoint attempts in flight
// hands the next one out as soon as an attempt ends, not at its next
// poll. The poll here is an hour: only that wake-up can drain the
// backlog.
func TestBusyEndpointTakesTheNextDeliveryAtOnce(t *testing.T) {
	const n = 40
	f := newDeliveryFixture(t)
	r := newReceiver(t, http.StatusNoContent)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	for i := range n {
		f.send(t, fmt.Sprint("msg_", i))
	}
	f.opts.Poll, f.opts.PerEndpoint, f.opts.Concurrency = time.Hour, 2, 8
	f.run(t)
	await.True(t, func() bool { return r.count() == n }, "all %d delivered", n)
	f.waitFor(t, "acme", webhook.StateSucceeded, n)
}

// countingEndpoints counts the reads of an endpoint store.
type countingEndpoints struct {
	webhook.EndpointStore
	reads atomic.Int32
}

func (c *countingEndpoints) GetEndpoint(ctx context.Context, tenantID, id string) (*webhook.Endpoint, error) {
	c.reads.Add(1)
	return c.EndpointStore.GetEndpoint(ctx, tenantID, id)
}

// TestEndpointReadOncePerVersion: workers read an endpoint from the
// store once per version, not once per delivery; a change to it (a new
// URL) reaches the next deliveries.
func TestEndpointReadOncePerVersion(t *testing.T) {
	f := newDeliveryFixture(t)
	endpoints := &countingEndpoints{EndpointStore: f.store}
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	f.d, err = webhook.NewDispatcher(endpoints, f.store, func(string) webhook.AEAD { return aead },
		webhook.DispatcherOptions{Now: f.clock.Now, AllowCIDRs: loopback})
	require.NoError(t, err)
	first, second := newReceiver(t, http.StatusNoContent), newReceiver(t, http.StatusNoContent)
	e := f.endpoint(t, webhook.EndpointSpec{URL: first.URL})
	const n = 100
	for i := range n {
		f.send(t, fmt.Sprint("msg_", i))
	}
	f.opts.Concurrency = 4
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, n)
	assert.LessOrEqual(t, int(endpoints.reads.Load()), f.opts.Concurrency, "the endpoint was read per delivery")

	e, err = f.store.GetEndpoint(context.Background(), "acme", e.ID)
	require.NoError(t, err)
	e.URL = second.URL
	require.NoError(t, f.store.UpdateEndpoint(context.Background(), e))
	f.send(t, "msg_after_the_change")
	f.waitFor(t, "acme", webhook.StateSucceeded, n+1)
	assert.Equal(t, n, first.count())
	assert.Equal(t, 1, second.count(), "the changed endpoint's new URL was used")
}

// TestSendMany: many messages go out as Send's would; one invalid
// message refuses the whole batch.
func TestSendMany(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, http.StatusNoContent)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	var msgs []*webhook.Message
	for range 50 {
		msgs = append(msgs, &webhook.Message{TenantID: "acme", EventType: "a", Payload: []byte(`{}`)})
	}
	_, err := f.d.SendMany(context.Background(), append(slices.Clone(msgs), &webhook.Message{TenantID: "acme", EventType: "", Payload: []byte(`{}`)}))
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	assert.Empty(t, f.deliveries(t, "acme", ""), "a refused batch queued messages")

	n, err := f.d.SendMany(context.Background(), msgs)
	require.NoError(t, err)
	assert.Equal(t, 50, n)
	f.run(t)
	f.waitFor(t, "acme", webhook.StateSucceeded, 50)
	assert.Equal(t, 50, r.count())
}

// TestSubscribeFollowsOutcomes: a subscriber sees every recorded
// attempt, failures and successes, with the delivery as it now is;
// stopping closes its channel.
func TestSubscribeFollowsOutcomes(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, http.StatusInternalServerError, http.StatusNoContent)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	outcomes, stop := f.d.Subscribe(10)
	f.send(t, "msg_1")
	f.run(t)

	first := <-outcomes
	assert.Equal(t, "msg_1", first.Delivery.Message.ID)
	assert.Equal(t, webhook.StatePending, first.Delivery.State, "retrying")
	assert.Equal(t, http.StatusInternalServerError, first.Attempt.Status)
	f.clock.Advance(time.Hour) // past the retry delay
	f.d.Wake()
	second := <-outcomes
	assert.Equal(t, webhook.StateSucceeded, second.Delivery.State)
	assert.Equal(t, 2, second.Delivery.Attempts)
	assert.Equal(t, http.StatusNoContent, second.Attempt.Status)

	stop()
	_, open := <-outcomes
	assert.False(t, open, "stopping did not close the channel")
	stop() // twice is harmless
}

// TestAttemptsRecordTheHeaders: an attempt keeps the headers it sent,
// its credentials redacted, and the receiver's.
func TestAttemptsRecordTheHeaders(t *testing.T) {
	f := newDeliveryFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Receiver", "seen "+r.Header.Get("Webhook-Id"))
	}))
	defer srv.Close()
	f.endpoint(t, webhook.EndpointSpec{URL: srv.URL, Headers: map[string]string{"X-Team": "billing"},
		Auth: &webhook.EndpointAuth{Scheme: "bearer", Token: "s3cret-token"}})
	f.send(t, "msg_h")
	f.run(t)
	d := f.waitFor(t, "acme", webhook.StateSucceeded, 1)[0]
	log, err := f.store.Attempts(context.Background(), "acme", d.ID)
	require.NoError(t, err)
	require.Len(t, log, 1)
	sent := log[0].RequestHeaders
	assert.Equal(t, "[redacted]", sent["Authorization"], "the credential is never recorded")
	assert.Equal(t, "billing", sent["X-Team"])
	assert.Equal(t, "msg_h", sent["Webhook-Id"])
	assert.NotEmpty(t, sent["Webhook-Signature"])
	assert.Equal(t, "seen msg_h", log[0].ResponseHeaders["X-Receiver"])
	for _, v := range sent {
		assert.NotContains(t, v, "s3cret-token")
	}
}

func TestRecordedHeadersAreBounded(t *testing.T) {
	h := http.Header{"Cookie": {"a=b"}, "X-Long": {strings.Repeat("é", 1000)}, "X-Many": {"a", "b"}}
	for i := range 100 {
		h.Set(fmt.Sprintf("Z-H%03d", i), "v") // sorted last: these are the ones cut
	}
	got := webhook.RecordedHeaders(h)
	assert.Len(t, got, 64)
	assert.Equal(t, "[redacted]", got["Cookie"])
	assert.LessOrEqual(t, len(got["X-Long"]), 1024)
	assert.True(t, utf8.ValidString(got["X-Long"]), "cut on a character boundary")
	assert.Equal(t, "a, b", got["X-Many"])
	assert.Nil(t, webhook.RecordedHeaders(nil))
}
