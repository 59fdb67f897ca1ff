package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

func TestSeenConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t) // an unavailable engine skips here, once
			webhooktest.RunSeenStoreTests(t, func(t *testing.T, now func() time.Time) webhook.SeenStore {
				return newStore(t, b.Open(t)).Seen(sqlstore.SeenOptions{Now: now})
			})
		})
	}
}

func TestRateLimiterConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t)
			webhooktest.RunRateLimiterTests(t, func(t *testing.T) webhook.RateLimiter { return newStore(t, b.Open(t)) })
		})
	}
}

// seenRows counts the rows of webhook_seen.
func seenRows(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM webhook_seen").Scan(&n))
	return n
}

// TestSeenSharedAcrossProcesses: a message accepted by one receiver is
// a replay to another on the same database.
func TestSeenSharedAcrossProcesses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			first := newStore(t, db).Seen(sqlstore.SeenOptions{})
			second := newStore(t, sqldbtest.Reopen(t, db)).Seen(sqlstore.SeenOptions{})
			until := time.Now().Add(time.Hour)
			fresh, err := first.MarkSeen(ctx, "msg_1", until)
			require.NoError(t, err)
			assert.True(t, fresh)
			fresh, err = second.MarkSeen(ctx, "msg_1", until)
			require.NoError(t, err)
			assert.False(t, fresh, "replayed to another process")
		})
	}
}

// TestSeenExpire: ids whose time is up go, in batches no larger than
// asked; the others stay.
func TestSeenExpire(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			clock := testclock.New(t0)
			seen := newStore(t, db).Seen(sqlstore.SeenOptions{Now: clock.Now})
			for i := range 25 {
				_, err := seen.MarkSeen(ctx, fmt.Sprint("old", i), t0.Add(time.Minute))
				require.NoError(t, err)
			}
			_, err := seen.MarkSeen(ctx, "recent", t0.Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, 26, seenRows(t, db))

			clock.Advance(time.Minute)
			for _, want := range []int{10, 10, 5, 0} {
				n, err := seen.Expire(ctx, 10)
				require.NoError(t, err)
				assert.Equal(t, want, n)
			}
			assert.Equal(t, 1, seenRows(t, db), "the id still in its window stays")
			fresh, err := seen.MarkSeen(ctx, "recent", t0.Add(2*time.Hour))
			require.NoError(t, err)
			assert.False(t, fresh, "and is still seen")
		})
	}
}

// TestMarkSeenSweeps: with no job calling Expire, MarkSeen deletes the
// ids whose time is up by itself, so the table holds about one
// tolerance window of ids.
func TestMarkSeenSweeps(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			clock := testclock.New(t0)
			seen := newStore(t, db).Seen(sqlstore.SeenOptions{Now: clock.Now})
			tx, err := db.Begin()
			require.NoError(t, err)
			for i := range 2500 {
				_, err := tx.Exec(db.Dialect.Rebind("INSERT INTO webhook_seen (id, until) VALUES (?, ?)"), fmt.Appendf(nil, "old%d", i), t0.Add(5*time.Minute).UnixMicro())
				require.NoError(t, err)
			}
			require.NoError(t, tx.Commit())

			clock.Advance(time.Hour)
			for i := range 3 { // one sweep of 1,000 rows per call
				_, err := seen.MarkSeen(ctx, fmt.Sprint("new", i), clock.Now().Add(5*time.Minute))
				require.NoError(t, err)
			}
			assert.Equal(t, 3, seenRows(t, db), "three sweeps, back to back while each found a full batch")

			clock.Advance(30 * time.Second)
			_, err = seen.MarkSeen(ctx, "new3", clock.Now().Add(time.Minute))
			require.NoError(t, err)
			clock.Advance(10 * time.Minute)
			_, err = seen.MarkSeen(ctx, "new4", clock.Now().Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, 1, seenRows(t, db), "a sweep a minute later")
		})
	}
}
