package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/redistest"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/redisstore"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// newStore returns a store writing under a prefix of the test's own.
func newStore(t *testing.T, c redis.UniversalClient) (*redisstore.Store, string) {
	t.Helper()
	prefix := redistest.Prefix(t, c)
	return redisstore.New(c, redisstore.Options{Prefix: prefix}), prefix
}

func TestConformance(t *testing.T) {
	c := redistest.Client(t)
	tenancytest.RunLimitStoreTests(t, func(t *testing.T) tenancy.LimitStore {
		st, _ := newStore(t, c)
		return st
	})
}

// TestKeyExpiresWhenFull: a bucket's key lives until the bucket would
// be full again, and holds its time to the microsecond.
func TestKeyExpiresWhenFull(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	st, prefix := newStore(t, c)
	lim := tenancy.Limit{Rate: 0.125, Burst: 4} // a token every 8 s
	for range 3 {
		ok, _, err := st.Take(ctx, "p\x00acme\x00key:k1", lim, t0)
		require.NoError(t, err)
		require.True(t, ok)
	}
	key := prefix + "tenancy:rl:p\x00acme\x00key:k1"
	ttl, err := c.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Positive(t, ttl)
	assert.LessOrEqual(t, ttl, 24*time.Second, "full again 24 s after three takes")
	assert.Greater(t, ttl, 20*time.Second)
	v, err := c.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(t0.Add(24*time.Second).UnixMicro(), 10), v, "the time, exact")

	n, err := c.Exists(ctx, key).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	// A refused take leaves the expiry alone.
	ok, _, err := st.Take(ctx, "p\x00acme\x00key:k1", tenancy.Limit{Rate: 0.125, Burst: 1}, t0)
	require.NoError(t, err)
	assert.False(t, ok)
	ttl2, err := c.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, ttl2, ttl)
}

func TestKeyExpiresWithinTheTest(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	st, prefix := newStore(t, c)
	ok, _, err := st.Take(ctx, "k", tenancy.Limit{Rate: 20, Burst: 1}, time.Now()) // full again in 50 ms
	require.NoError(t, err)
	require.True(t, ok)
	await.True(t, func() bool { return c.Exists(ctx, prefix+"tenancy:rl:k").Val() == 0 }, "the idle key goes")
}

func TestDefaultPrefix(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	key := "test-default-prefix-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { c.Del(ctx, "saaskit:tenancy:rl:"+key) })
	_, _, err := redisstore.New(c, redisstore.Options{}).Take(ctx, key, tenancy.Limit{Rate: 1, Burst: 1}, t0)
	require.NoError(t, err)
	assert.EqualValues(t, 1, c.Exists(ctx, "saaskit:tenancy:rl:"+key).Val())
}

// TestBadStateIsAnError: a key of the wrong kind, a cancelled context
// and an invalid limit give errors, never a panic.
func TestBadStateIsAnError(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	st, prefix := newStore(t, c)
	lim := tenancy.Limit{Rate: 1, Burst: 1}
	require.NoError(t, c.Set(ctx, prefix+"tenancy:rl:text", "not a time", 0).Err())
	_, _, err := st.Take(ctx, "text", lim, t0)
	assert.Error(t, err)
	require.NoError(t, c.HSet(ctx, prefix+"tenancy:rl:hash", "f", "v").Err())
	_, _, err = st.Take(ctx, "hash", lim, t0)
	assert.Error(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = st.Take(cancelled, "k", lim, t0)
	assert.ErrorIs(t, err, context.Canceled)

	_, _, err = st.Take(ctx, "k", tenancy.Limit{Rate: 1e-9, Burst: 1000}, t0)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

// TestSurvivesRedisRestart: while Redis is away, takes fail (and a
// RateLimiter limits per process); once it is back, the same store
// takes from the same buckets again, with no new client or store.
func TestSurvivesRedisRestart(t *testing.T) {
	ctx := context.Background()
	direct := redistest.Client(t)
	proxy := redistest.NewProxy(t, direct.Options().Addr)
	opts := redistest.Options(t)
	opts.Addr = proxy.Addr()
	opts.MaxRetries = -1 // fail at once while down; the test retries
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	st, _ := newStore(t, c)
	clock := func() time.Time { return t0 }
	limiter, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 0.125, Burst: 3}, Shared: st, Now: clock})
	require.NoError(t, err)
	acme := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme"}, Subject: "key:k1"}
	ok, _ := limiter.Allow(acme)
	require.True(t, ok, "one of three from the shared bucket")

	proxy.Stop()
	_, _, err = st.Take(ctx, "p\x00acme\x00key:k1", tenancy.Limit{Rate: 0.125, Burst: 3}, t0)
	assert.Error(t, err, "Redis is away")
	allowed := 0
	for range 5 {
		if ok, _ := limiter.Allow(acme); ok {
			allowed++
		}
	}
	assert.Equal(t, 3, allowed, "this process's own full bucket meanwhile")

	// A restart also empties the script cache.
	require.NoError(t, direct.ScriptFlush(ctx).Err())
	require.NoError(t, proxy.Start())
	await.True(t, func() bool {
		_, _, err := st.Take(ctx, "probe", tenancy.Limit{Rate: 1, Burst: 1}, t0)
		return err == nil
	}, "takes work again once Redis is back")
	allowed = 0
	for range 5 {
		if ok, _ := limiter.Allow(acme); ok {
			allowed++
		}
	}
	assert.Equal(t, 2, allowed, "the shared bucket again, with its one take before the outage")
}

func TestUsageConformance(t *testing.T) {
	c := redistest.Client(t)
	tenancytest.RunUsageStoreTests(t, func(t *testing.T) tenancy.UsageStore {
		st, _ := newStore(t, c)
		return st
	})
}

// TestUsageKeyExpiresAfterRetention: a counter expires its retention
// after its period ends, and a late add to a period whose retention has
// passed still counts, for a minute.
func TestUsageKeyExpiresAfterRetention(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	st := redisstore.New(c, redisstore.Options{Prefix: prefix, UsageRetention: 48 * time.Hour})
	start := tenancy.Monthly.Start(time.Now())
	key := tenancy.UsageKey{TenantID: "acme", Metric: "api_calls", Start: start}
	_, added, err := st.AddUsage(ctx, key, 1, tenancy.NoUsageLimit)
	require.NoError(t, err)
	require.True(t, added)
	redisKey := prefix + "tenancy:usage:month:" + strconv.FormatInt(start.Unix(), 10) + ":api_calls:acme"
	at, err := c.ExpireTime(ctx, redisKey).Result()
	require.NoError(t, err)
	assert.Equal(t, tenancy.Monthly.Next(start).Add(48*time.Hour).Unix(), int64(at/time.Second))

	old := tenancy.UsageKey{TenantID: "acme", Metric: "api_calls", Start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	total, added, err := st.AddUsage(ctx, old, 3, tenancy.NoUsageLimit)
	require.NoError(t, err)
	assert.True(t, added)
	assert.EqualValues(t, 3, total)
	ttl, err := c.TTL(ctx, prefix+"tenancy:usage:month:"+strconv.FormatInt(old.Start.Unix(), 10)+":api_calls:acme").Result()
	require.NoError(t, err)
	assert.Positive(t, ttl)
	assert.LessOrEqual(t, ttl, time.Minute)
}
