package tenancytest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// RunLimitStoreTests is the conformance suite for tenancy.LimitStore
// (tenancy.MemoryLimits, sqlstore, redisstore, and third-party ones).
// newStore must return a store with no buckets each time it is called.
// Every verdict reads the time the suite passes to Take, never the wall
// clock; the limits are slow (a token every 8 seconds), so a store that
// expires idle keys by wall-clock time (Redis) keeps them for the
// length of a test.
//
//	func TestLimitStore(t *testing.T) {
//		tenancytest.RunLimitStoreTests(t, func(t *testing.T) tenancy.LimitStore { return mystore.New(...) })
//	}
func RunLimitStoreTests(t *testing.T, newStore func(t *testing.T) tenancy.LimitStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tenancy.LimitStore)
	}{
		{"BurstThenRefused", testBurstThenRefused},
		{"RefillsAfterInterval", testRefill},
		{"IdleKeyStartsFull", testIdleKeyStartsFull},
		{"KeysAreIndependent", testKeysIndependent},
		{"SmallerBurstAppliesAtOnce", testSmallerBurst},
		{"ConcurrentTakersKeepTheLimit", testConcurrentTakers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// slow is the suite's limit: a token every 8 s (exact in binary and in
// microseconds), bursts of up to 4.
var slow = tenancy.Limit{Rate: 0.125, Burst: 4}

const slowInterval = 8 * time.Second

// take takes one token and fails the test on an error.
func take(t *testing.T, s tenancy.LimitStore, key string, limit tenancy.Limit, now time.Time) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := s.Take(context.Background(), key, limit, now)
	require.NoError(t, err, "Take %q at %v", key, now)
	return ok, wait
}

// takeN calls Take n times at now and returns how many were allowed.
func takeN(t *testing.T, s tenancy.LimitStore, key string, limit tenancy.Limit, now time.Time, n int) int {
	t.Helper()
	allowed := 0
	for range n {
		if ok, _ := take(t, s, key, limit, now); ok {
			allowed++
		}
	}
	return allowed
}

// assertWait checks a reported wait to the millisecond: stores keep time
// in microseconds or floating-point seconds.
func assertWait(t *testing.T, want, got time.Duration, msg string) {
	t.Helper()
	assert.InDelta(t, float64(want), float64(got), float64(time.Millisecond), "%s: wait %v, want %v", msg, got, want)
}

func testBurstThenRefused(t *testing.T, s tenancy.LimitStore) {
	for i := range slow.Burst {
		ok, wait := take(t, s, "k", slow, t0)
		require.True(t, ok, "take %d of the burst", i)
		assert.Zero(t, wait)
	}
	for i := range 3 { // a refused take costs nothing
		ok, wait := take(t, s, "k", slow, t0)
		assert.False(t, ok, "take past the burst")
		assertWait(t, slowInterval, wait, fmt.Sprint("refused take ", i))
	}
	ok, wait := take(t, s, "k", slow, t0.Add(3*time.Second))
	assert.False(t, ok)
	assertWait(t, 5*time.Second, wait, "3 s later")
}

func testRefill(t *testing.T, s tenancy.LimitStore) {
	require.Equal(t, slow.Burst, takeN(t, s, "k", slow, t0, 10))
	at := t0.Add(slowInterval - time.Millisecond)
	ok, _ := take(t, s, "k", slow, at)
	assert.False(t, ok, "just before a token is back")
	at = t0.Add(slowInterval)
	ok, wait := take(t, s, "k", slow, at)
	assert.True(t, ok, "a token is back after 1/rate")
	assert.Zero(t, wait)
	ok, wait = take(t, s, "k", slow, at)
	assert.False(t, ok, "only one")
	assertWait(t, slowInterval, wait, "after the refilled token")
	assert.Equal(t, 2, takeN(t, s, "k", slow, t0.Add(3*slowInterval), 10), "two more tokens after two more intervals")
}

func testIdleKeyStartsFull(t *testing.T, s tenancy.LimitStore) {
	require.Equal(t, slow.Burst, takeN(t, s, "k", slow, t0, 10))
	// Refilled up to Burst, never beyond, however long it stays idle.
	later := t0.Add(time.Duration(slow.Burst) * slowInterval)
	assert.Equal(t, slow.Burst, takeN(t, s, "k", slow, later, 10), "full once refilled")
	later = later.Add(24 * time.Hour)
	assert.Equal(t, slow.Burst, takeN(t, s, "k", slow, later, 10), "full after a day")
}

func testKeysIndependent(t *testing.T, s tenancy.LimitStore) {
	keys := []string{"p\x00acme\x00key:k1", "p\x00acme\x00key:k2", "a\x00acme\x00192.0.2.1", "\xff\xfe", "", string(make([]byte, 512))}
	for _, k := range keys {
		assert.Equal(t, slow.Burst, takeN(t, s, k, slow, t0, 10), "key %q has its own full bucket", k)
	}
	for _, k := range keys {
		ok, _ := take(t, s, k, slow, t0)
		assert.False(t, ok, "key %q stays empty", k)
	}
}

func testSmallerBurst(t *testing.T, s tenancy.LimitStore) {
	big := tenancy.Limit{Rate: slow.Rate, Burst: 10}
	assert.Equal(t, 1, takeN(t, s, "k", big, t0, 1))
	small := tenancy.Limit{Rate: slow.Rate, Burst: 2}
	later := t0.Add(time.Hour)
	assert.Equal(t, 2, takeN(t, s, "k", small, later, 10), "a full bucket holds the new burst")
}

// testConcurrentTakers has many goroutines take from one key at the
// same instants: in all, they get exactly burst + rate*elapsed tokens,
// never more.
func testConcurrentTakers(t *testing.T, s tenancy.LimitStore) {
	const goroutines, attempts = 16, 4
	phases := []struct {
		after time.Duration
		total int // tokens taken in all by then
	}{
		{0, 4},                               // the burst
		{2 * slowInterval, 6},                // two refilled
		{2*slowInterval + slowInterval/2, 6}, // half a token
		{3 * slowInterval, 7},                // the other half
		{3*slowInterval + time.Hour, 7 + 4},  // full again, never beyond
		{3*slowInterval + time.Hour + time.Microsecond, 7 + 4}, // a microsecond later: nothing
	}
	total := 0
	for _, ph := range phases {
		now := t0.Add(ph.after)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range attempts {
					ok, _, err := s.Take(context.Background(), "hot", slow, now)
					if !assert.NoError(t, err) {
						return
					}
					if ok {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		total += int(allowed.Load())
		assert.Equal(t, ph.total, total, "tokens taken by %v", ph.after)
	}
}
