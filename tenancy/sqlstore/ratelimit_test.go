package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

var rlT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestLimitStoreConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t) // an unavailable engine skips here, once
			tenancytest.RunLimitStoreTests(t, func(t *testing.T) tenancy.LimitStore { return newStore(t, b.Open) })
		})
	}
}

// rateLimitRows counts the rows of tenancy_rate_limits.
func rateLimitRows(t *testing.T, st *sqlstore.Store) int {
	t.Helper()
	var n int
	require.NoError(t, st.DB().QueryRow("SELECT COUNT(*) FROM tenancy_rate_limits").Scan(&n))
	return n
}

// TestRateLimitsShareOneBucketAcrossStores: two stores on one database,
// as two replicas, take from one bucket per key.
func TestRateLimitsShareOneBucketAcrossStores(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			first := newStore(t, b.Open)
			second, err := sqlstore.New(first.DB())
			require.NoError(t, err)
			lim := tenancy.Limit{Rate: 2, Burst: 3}
			allowed := 0
			for i := range 10 {
				st := []*sqlstore.Store{first, second}[i%2]
				ok, _, err := st.Take(context.Background(), "p\x00acme\x00key:k1", lim, rlT0)
				require.NoError(t, err)
				if ok {
					allowed++
				}
			}
			assert.Equal(t, 3, allowed)
			ok, wait, err := second.Take(context.Background(), "p\x00acme\x00key:k1", lim, rlT0)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Equal(t, 500*time.Millisecond, wait)
		})
	}
}

// TestExpireRateLimits: rows of buckets that have refilled go, in
// batches no larger than asked; rows of buckets still refilling stay.
func TestExpireRateLimits(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t, b.Open)
			lim := tenancy.Limit{Rate: 1, Burst: 5}
			for i := range 25 { // each key refills 1 s after its take
				_, _, err := st.Take(ctx, fmt.Sprint("idle", i), lim, rlT0)
				require.NoError(t, err)
			}
			later := rlT0.Add(12 * time.Second)
			for range 5 { // refills 5 s after later
				_, _, err := st.Take(ctx, "busy", lim, later)
				require.NoError(t, err)
			}
			require.Equal(t, 26, rateLimitRows(t, st))

			n, err := st.ExpireRateLimits(ctx, rlT0.Add(time.Second), 10)
			require.NoError(t, err)
			assert.Zero(t, n, "a bucket exactly refilled is not yet past its time")
			for _, want := range []int{10, 10, 5, 0} {
				n, err := st.ExpireRateLimits(ctx, later, 10)
				require.NoError(t, err)
				assert.Equal(t, want, n)
			}
			assert.Equal(t, 1, rateLimitRows(t, st), "the busy key stays")
			ok, _, err := st.Take(ctx, "busy", lim, later)
			require.NoError(t, err)
			assert.False(t, ok, "and keeps its state")
			ok, _, err = st.Take(ctx, "idle3", lim, later)
			require.NoError(t, err)
			assert.True(t, ok, "a swept key starts full")
		})
	}
}

// TestTakeSweepsIdleKeys: with no job calling ExpireRateLimits, Take
// deletes rows of idle keys by itself, so one row per client ever seen
// does not pile up.
func TestTakeSweepsIdleKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t, b.Open)
			lim := tenancy.Limit{Rate: 10, Burst: 1}
			// 2,500 clients seen once a second apart, each bucket refilled
			// 100 ms after its take.
			insertIdle(t, st, 2500, rlT0.Add(100*time.Millisecond))
			require.Equal(t, 2500, rateLimitRows(t, st))

			at := rlT0.Add(time.Hour)
			for i := range 3 { // one take per sweep of 1,000 rows
				_, _, err := st.Take(ctx, "a\x00acme\x00now", lim, at.Add(time.Duration(i)*time.Millisecond))
				require.NoError(t, err)
			}
			assert.Equal(t, 1, rateLimitRows(t, st), "three sweeps, back to back while each found a full batch")

			insertIdle(t, st, 10, at.Add(time.Second))
			_, _, err := st.Take(ctx, "a\x00acme\x00now", lim, at.Add(30*time.Second))
			require.NoError(t, err)
			assert.Equal(t, 11, rateLimitRows(t, st), "no sweep within the minute after a partial one")
			_, _, err = st.Take(ctx, "a\x00acme\x00now", lim, at.Add(2*time.Minute))
			require.NoError(t, err)
			assert.Equal(t, 1, rateLimitRows(t, st), "a sweep a minute later")
		})
	}
}

// insertIdle writes n buckets whose time is tat, as n takes would.
func insertIdle(t *testing.T, st *sqlstore.Store, n int, tat time.Time) {
	t.Helper()
	d, err := sqldb.DialectOf(st.DB())
	require.NoError(t, err)
	tx, err := st.DB().Begin()
	require.NoError(t, err)
	for i := range n {
		_, err := tx.Exec(d.Rebind("INSERT INTO tenancy_rate_limits (key, tat) VALUES (?, ?)"), fmt.Appendf(nil, "a\x00acme\x00%d-%d", tat.UnixMicro(), i), tat.UnixMicro())
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

func TestTakeRejectsLimitsItCannotKeep(t *testing.T) {
	st := newStore(t, backends[0].Open)
	_, _, err := st.Take(context.Background(), "k", tenancy.Limit{Rate: 1e-9, Burst: 1000}, rlT0)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}
