package redisstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/redistest"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/redisstore"
	"github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

var t0 = time.Date(2026, 2, 3, 4, 5, 6, 789012000, time.UTC)

// newStore returns a store writing under a prefix of the test's own.
func newStore(t *testing.T, c redis.UniversalClient) (*redisstore.Store, string) {
	t.Helper()
	prefix := redistest.Prefix(t, c)
	return redisstore.New(c, redisstore.Options{Prefix: prefix}), prefix
}

func TestSeenConformance(t *testing.T) {
	c := redistest.Client(t)
	webhooktest.RunSeenStoreTests(t, func(t *testing.T, _ func() time.Time) webhook.SeenStore {
		st, _ := newStore(t, c) // Redis keeps the time
		return st
	})
}

func TestRateLimiterConformance(t *testing.T) {
	c := redistest.Client(t)
	webhooktest.RunRateLimiterTests(t, func(t *testing.T) webhook.RateLimiter {
		st, _ := newStore(t, c)
		return st
	})
}

// TestReserveAnswersAsSQL: the same bookings give the same answers from
// Redis as from webhook/sqlstore.
func TestReserveAnswersAsSQL(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	rs, _ := newStore(t, c)
	sq, err := sqlstore.New(sqldbtest.OpenSQLite(t).DB)
	require.NoError(t, err)
	require.NoError(t, sq.Migrate(ctx))
	rates := []float64{0.1, 0.3, 3, 0.0001, 0}
	for i := range 300 {
		ep := fmt.Sprint("ep", i%3)
		perSecond := rates[i%len(rates)]
		now := t0.Add(time.Duration(i*i%97) * 700 * time.Millisecond)
		maxWait := time.Duration(i%40) * time.Second
		w1, ok1, err := sq.Reserve(ctx, ep, perSecond, now, maxWait)
		require.NoError(t, err)
		w2, ok2, err := rs.Reserve(ctx, ep, perSecond, now, maxWait)
		require.NoError(t, err)
		require.Equal(t, ok1, ok2, "booking %d", i)
		require.Equal(t, w1, w2, "booking %d", i)
	}
}

// TestSeenKeyExpiresAtUntil: the id's key lives exactly until the time
// the receiver gave, to the millisecond.
func TestSeenKeyExpiresAtUntil(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	st, prefix := newStore(t, c)
	until := time.Now().Add(5 * time.Minute).Truncate(time.Millisecond)
	fresh, err := st.MarkSeen(ctx, "msg_1", until)
	require.NoError(t, err)
	require.True(t, fresh)
	at, err := c.PExpireTime(ctx, prefix+"webhook:seen:msg_1").Result()
	require.NoError(t, err)
	assert.Equal(t, until.UnixMilli(), at.Milliseconds())

	fresh, err = st.MarkSeen(ctx, "msg_past", time.Now().Add(-time.Second))
	require.NoError(t, err)
	assert.True(t, fresh, "an id whose time is already up is new, and not kept")
	assert.Zero(t, c.Exists(ctx, prefix+"webhook:seen:msg_past").Val())
}

// signed returns a request carrying a message signed with secret.
func signed(t *testing.T, secret, id string) *http.Request {
	t.Helper()
	signer, err := webhook.NewSigner(secret)
	require.NoError(t, err)
	body := []byte(`{"type":"invoice.paid"}`)
	r := httptest.NewRequest("POST", "/webhooks", strings.NewReader(string(body)))
	require.NoError(t, signer.SetHeaders(r.Header, id, time.Now(), body))
	return r
}

// TestReceiversShareReplayProtection: a message accepted by one replica
// is a replay to another; while Redis is away, the receiver refuses
// messages (fails closed) with 503, and accepts them again once it is
// back, with no new client or store.
func TestReceiversShareReplayProtection(t *testing.T) {
	direct := redistest.Client(t)
	proxy := redistest.NewProxy(t, direct.Options().Addr)
	opts := redistest.Options(t)
	opts.Addr = proxy.Addr()
	opts.MaxRetries = -1 // fail at once while down; the test retries
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	st, _ := newStore(t, c)

	secret := webhook.NewSecret()
	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, secret)
	require.NoError(t, err)
	handled := 0
	receiver := func() http.Handler {
		return webhook.Receiver(v, webhook.ReceiverOptions{Seen: st})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled++ }))
	}
	first, second := receiver(), receiver()
	serve := func(h http.Handler, r *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, serve(first, signed(t, secret, "msg_1")))
	assert.Equal(t, http.StatusConflict, serve(second, signed(t, secret, "msg_1")), "replayed to another replica")

	proxy.Stop()
	assert.Equal(t, http.StatusServiceUnavailable, serve(first, signed(t, secret, "msg_2")), "no replay check, no acceptance")
	_, _, err = st.Reserve(context.Background(), "ep1", 1, t0, time.Second)
	assert.Error(t, err)
	assert.Equal(t, 1, handled)

	require.NoError(t, direct.ScriptFlush(context.Background()).Err()) // a restart also empties the script cache
	require.NoError(t, proxy.Start())
	await.True(t, func() bool { return serve(first, signed(t, secret, "msg_2")) == http.StatusOK }, "accepted once Redis is back")
	assert.Equal(t, http.StatusConflict, serve(second, signed(t, secret, "msg_1")), "what was seen before stays seen")
	_, ok, err := st.Reserve(context.Background(), "ep1", 1, t0, time.Second)
	require.NoError(t, err)
	assert.True(t, ok)
}

// TestBadStateIsAnError: a schedule key of the wrong kind and a
// cancelled context give errors, never a panic.
func TestBadStateIsAnError(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	st, prefix := newStore(t, c)
	require.NoError(t, c.Set(ctx, prefix+"webhook:rl:text", "not a time", 0).Err())
	_, _, err := st.Reserve(ctx, "text", 1, t0, time.Second)
	assert.Error(t, err)
	require.NoError(t, c.HSet(ctx, prefix+"webhook:rl:hash", "f", "v").Err())
	_, _, err = st.Reserve(ctx, "hash", 1, t0, time.Second)
	assert.Error(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = st.MarkSeen(cancelled, "msg_1", time.Now().Add(time.Minute))
	assert.ErrorIs(t, err, context.Canceled)
	_, _, err = st.Reserve(cancelled, "ep1", 1, t0, time.Second)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, st.Forget(cancelled, "msg_1"), context.Canceled)
}
