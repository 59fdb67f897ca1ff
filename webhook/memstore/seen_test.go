package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

func TestSeenConformance(t *testing.T) {
	webhooktest.RunSeenStoreTests(t, func(t *testing.T, now func() time.Time) webhook.SeenStore {
		return memstore.NewSeen(memstore.SeenOptions{Now: now})
	})
}

var seenT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestSeenIsBounded(t *testing.T) {
	clock := testclock.New(seenT0)
	m := memstore.NewSeen(memstore.SeenOptions{Limit: 2, Now: clock.Now})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		fresh, err := m.MarkSeen(ctx, id, seenT0.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, fresh)
	}
	_, err := m.MarkSeen(ctx, "c", seenT0.Add(time.Minute))
	assert.Error(t, err, "a full store must refuse, not forget live ids")
	fresh, err := m.MarkSeen(ctx, "a", seenT0.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, fresh)
	clock.Advance(2 * time.Minute)
	fresh, err = m.MarkSeen(ctx, "c", seenT0.Add(5*time.Minute))
	require.NoError(t, err)
	assert.True(t, fresh, "expired ids make room")
}

// TestSeenExpiresInOrder: ids leave as their own windows end, not
// in insertion order, and forgotten ids do not linger.
func TestSeenExpiresInOrder(t *testing.T) {
	clock := testclock.New(seenT0)
	m := memstore.NewSeen(memstore.SeenOptions{Limit: 3, Now: clock.Now})
	ctx := context.Background()
	mark := func(id string, until time.Duration) (bool, error) { return m.MarkSeen(ctx, id, seenT0.Add(until)) }
	for id, until := range map[string]time.Duration{"long": 10 * time.Minute, "short": time.Minute, "mid": 5 * time.Minute} {
		fresh, err := mark(id, until)
		require.NoError(t, err)
		require.True(t, fresh)
	}
	clock.Advance(2 * time.Minute)
	fresh, err := mark("new", 10*time.Minute)
	require.NoError(t, err)
	assert.True(t, fresh, "short expired and made room")
	_, err = mark("another", 10*time.Minute)
	assert.Error(t, err, "long and mid are still in their windows")
	fresh, _ = mark("mid", 5*time.Minute)
	assert.False(t, fresh, "mid is still remembered")

	require.NoError(t, m.Forget(ctx, "mid"))
	for i := range 20 { // forget and re-mark: the heap stays bounded and correct
		fresh, err = mark("mid", 5*time.Minute)
		require.NoError(t, err, i)
		assert.True(t, fresh)
		require.NoError(t, m.Forget(ctx, "mid"))
	}
	clock.Advance(7 * time.Minute) // 9 minutes in; long and new expire at 10
	fresh, _ = mark("long", 20*time.Minute)
	assert.False(t, fresh, "long is still in its window")
	clock.Advance(time.Minute)
	fresh, err = mark("long", 20*time.Minute)
	require.NoError(t, err)
	assert.True(t, fresh, "long's window ended")
}
