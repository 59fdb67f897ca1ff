package webhooktest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
)

// RunSeenStoreTests is the conformance suite for webhook.SeenStore, the
// receiver's replay protection (webhook/memstore, sqlstore, redisstore,
// and third-party ones). newStore returns an empty store that reads the
// time from now. The suite's clock starts at the wall clock's time and
// moves only when the suite moves it; a store that keeps time itself (a
// Redis key's expiry) may ignore now: where the suite needs an id's time
// to be up, it also waits, polling, until the wall clock has passed it,
// about a second.
//
//	func TestSeenStore(t *testing.T) {
//		webhooktest.RunSeenStoreTests(t, func(t *testing.T, now func() time.Time) webhook.SeenStore {
//			return mystore.NewSeen(now)
//		})
//	}
func RunSeenStoreTests(t *testing.T, newStore func(t *testing.T, now func() time.Time) webhook.SeenStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s webhook.SeenStore, c *clock)
	}{
		{"NewThenSeen", testNewThenSeen},
		{"ExpiresAtUntil", testSeenExpires},
		{"Forget", testForget},
		{"ConcurrentMarkSeenOneWins", testConcurrentMarkSeen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{now: time.Now().Truncate(time.Millisecond)}
			tc.fn(t, newStore(t, c.Now), c)
		})
	}
}

// clock is the suite's settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// markSeen calls MarkSeen and fails the test on an error.
func markSeen(t *testing.T, s webhook.SeenStore, id string, until time.Time) bool {
	t.Helper()
	fresh, err := s.MarkSeen(context.Background(), id, until)
	require.NoError(t, err, "MarkSeen %q", id)
	return fresh
}

func testNewThenSeen(t *testing.T, s webhook.SeenStore, c *clock) {
	until := c.Now().Add(time.Hour)
	// Ids come from a request header: any bytes.
	for _, id := range []string{"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "msg_other", "a\x00b", "\xff", string(make([]byte, 256))} {
		assert.True(t, markSeen(t, s, id, until), "%q is new", id)
		assert.False(t, markSeen(t, s, id, until), "%q is seen", id)
		assert.False(t, markSeen(t, s, id, until.Add(time.Hour)), "%q is seen, whatever the new time", id)
	}
}

// upAt waits until the store counts id's time as up at until: the
// suite's clock is moved there, and the wall clock passes it.
func upAt(t *testing.T, s webhook.SeenStore, c *clock, id string, until time.Time) {
	t.Helper()
	c.Advance(until.Sub(c.Now()))
	await.True(t, func() bool { return markSeen(t, s, id, c.Now().Add(time.Hour)) }, "%q new again once its time is up", id)
}

func testSeenExpires(t *testing.T, s webhook.SeenStore, c *clock) {
	until := c.Now().Add(time.Second)
	require.True(t, markSeen(t, s, "msg_1", until))
	require.True(t, markSeen(t, s, "msg_2", until.Add(time.Hour)))
	assert.False(t, markSeen(t, s, "msg_1", until), "seen before its time is up")
	upAt(t, s, c, "msg_1", until)
	assert.False(t, markSeen(t, s, "msg_1", c.Now().Add(time.Hour)), "and recorded again")
	assert.False(t, markSeen(t, s, "msg_2", c.Now().Add(time.Hour)), "another id keeps its own time")
}

func testForget(t *testing.T, s webhook.SeenStore, c *clock) {
	ctx := context.Background()
	until := c.Now().Add(time.Hour)
	require.True(t, markSeen(t, s, "msg_1", until))
	require.True(t, markSeen(t, s, "msg_2", until))
	require.NoError(t, s.Forget(ctx, "msg_1"))
	assert.True(t, markSeen(t, s, "msg_1", until), "a forgotten id is new again")
	assert.False(t, markSeen(t, s, "msg_2", until), "the others stay")
	assert.NoError(t, s.Forget(ctx, "msg_never_seen"), "forgetting an unknown id is no error")
	assert.NoError(t, s.Forget(ctx, "a\x00\xff"))
}

// testConcurrentMarkSeen: of many receivers marking one id at once,
// exactly one sees it new, both for an id never seen and for one whose
// time is up.
func testConcurrentMarkSeen(t *testing.T, s webhook.SeenStore, c *clock) {
	until := c.Now().Add(time.Second)
	race := func(id string, until time.Time) int {
		const goroutines = 32
		var fresh atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range goroutines {
			wg.Go(func() {
				<-start
				ok, err := s.MarkSeen(context.Background(), id, until)
				if assert.NoError(t, err) && ok {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		return int(fresh.Load())
	}
	assert.Equal(t, 1, race("msg_new", c.Now().Add(time.Hour)), "a new id")
	require.True(t, markSeen(t, s, "msg_expiring", until))
	require.True(t, markSeen(t, s, "msg_probe", until))
	upAt(t, s, c, "msg_probe", until) // msg_expiring's time is up too
	assert.Equal(t, 1, race("msg_expiring", c.Now().Add(time.Hour)), "an id whose time is up")
}

// RunRateLimiterTests is the conformance suite for a shared
// webhook.RateLimiter (sqlstore, redisstore, and third-party ones).
// newLimiter returns a limiter with no schedules. Verdicts read only
// the times the suite passes to Reserve; the rates are slow (a slot
// every 10 seconds), so a store that expires idle schedules by the wall
// clock keeps them for the length of a test.
func RunRateLimiterTests(t *testing.T, newLimiter func(t *testing.T) webhook.RateLimiter) {
	t.Run("BooksSlotsWithinMaxWait", func(t *testing.T) { testBooksSlots(t, newLimiter(t)) })
	t.Run("ConcurrentReservesBookDistinctSlots", func(t *testing.T) { testConcurrentReserves(t, newLimiter(t)) })
}

const slotRate, slot = 0.1, 10 * time.Second

func testBooksSlots(t *testing.T, l webhook.RateLimiter) {
	ctx := context.Background()
	for i := range 11 {
		wait, ok, err := l.Reserve(ctx, "ep1", slotRate, t0, 100*time.Second)
		require.NoError(t, err)
		assert.True(t, ok, "slot %d", i)
		assert.Equal(t, time.Duration(i)*slot, wait, "slot %d", i)
	}
	wait, ok, err := l.Reserve(ctx, "ep1", slotRate, t0, 100*time.Second)
	require.NoError(t, err)
	assert.False(t, ok, "booked a slot more than maxWait ahead")
	assert.Equal(t, 110*time.Second, wait, "when the booked slots run out")

	wait, ok, err = l.Reserve(ctx, "ep1", slotRate, t0.Add(15*time.Second), 100*time.Second)
	require.NoError(t, err)
	assert.True(t, ok, "a slot within maxWait of a later now")
	assert.Equal(t, 95*time.Second, wait, "after the booked ones")

	wait, ok, err = l.Reserve(ctx, "ep2", slotRate, t0, 0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, wait, "another endpoint has its own schedule")

	wait, ok, err = l.Reserve(ctx, "ep1", slotRate, t0.Add(time.Hour), 0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, wait, "an idle endpoint's slot is free at once")

	wait, ok, err = l.Reserve(ctx, "ep1", 0, t0.Add(time.Hour), 0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, wait, "no limit")
}

// testConcurrentReserves: workers reserving at once book distinct
// slots, and no more than fit within maxWait.
func testConcurrentReserves(t *testing.T, l webhook.RateLimiter) {
	const goroutines, attempts = 16, 4
	var mu sync.Mutex
	var waits []time.Duration
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range attempts {
				wait, ok, err := l.Reserve(context.Background(), "ep1", slotRate, t0, 35*time.Second)
				if !assert.NoError(t, err) {
					return
				}
				if ok {
					mu.Lock()
					waits = append(waits, wait)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.ElementsMatch(t, []time.Duration{0, slot, 2 * slot, 3 * slot}, waits, "the four slots within 35 s, once each")
}
