// Package backuptest holds the conformance suites of backup.Leases
// (RunLeaseTests: MemoryLeases and backup/sqlstore run it) and of
// backup.Target (RunTargetTests: MemoryTarget, DirTarget and
// backup/blobtarget run it); other adapters can run them too.
package backuptest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
)

// RunLeaseTests runs the suite. newLeases returns empty leases reading
// the given clock.
func RunLeaseTests(t *testing.T, newLeases func(t *testing.T, now func() time.Time) backup.Leases) {
	ctx := context.Background()
	t.Run("OneHolderAtATime", func(t *testing.T) {
		now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		l := newLeases(t, clock)
		ok, err := l.Acquire(ctx, "db", "a", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = l.Acquire(ctx, "db", "b", time.Minute)
		require.NoError(t, err)
		assert.False(t, ok, "a holds it")
		ok, err = l.Acquire(ctx, "db", "a", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok, "the holder renews")
		ok, err = l.Acquire(ctx, "files", "b", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok, "leases are per job")

		mu.Lock()
		now = now.Add(2 * time.Minute)
		mu.Unlock()
		ok, err = l.Acquire(ctx, "db", "b", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok, "an expired lease passes on")
		require.NoError(t, l.Release(ctx, "db", "a"), "a stale holder's release changes nothing")
		ok, _ = l.Acquire(ctx, "db", "c", time.Minute)
		assert.False(t, ok)
		require.NoError(t, l.Release(ctx, "db", "b"))
		ok, _ = l.Acquire(ctx, "db", "c", time.Minute)
		assert.True(t, ok, "released")
	})
	t.Run("RacingHolders", func(t *testing.T) {
		l := newLeases(t, time.Now)
		var winners atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				ok, err := l.Acquire(ctx, "db", string(rune('a'+i)), time.Hour)
				if err == nil && ok {
					winners.Add(1)
				}
			})
		}
		wg.Wait()
		assert.EqualValues(t, 1, winners.Load(), "exactly one of eight racing processes holds the job")
	})
}
