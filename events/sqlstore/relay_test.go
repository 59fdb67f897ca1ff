package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// sameLane returns n aggregate keys of tenant acme in one lane.
func sameLane(n int) []string {
	var keys []string
	lane := events.Lane("acme", "agg-0")
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprintf("agg-%d", i); events.Lane("acme", k) == lane {
			keys = append(keys, k)
		}
	}
	return keys
}

// relayAll claims and completes batches until none is left, as a relay
// whose broker accepts everything, and returns the IDs in the order
// they were relayed.
func relayAll(t *testing.T, st events.Store, now time.Time) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for {
		b, err := st.Claim(ctx, now, time.Minute, 3)
		require.NoError(t, err)
		if b == nil {
			return ids
		}
		var batch []string
		for _, e := range b.Events {
			batch = append(batch, e.ID)
		}
		require.NoError(t, st.Complete(ctx, b, batch, now))
		ids = append(ids, batch...)
	}
}

// TestWatermarkAfterAFailedEvent: events relayed after one the broker
// refused are kept as relayed, the refused one comes back alone, and
// Pending, Expire and the gdpr count agree with what was relayed.
func TestWatermarkAfterAFailedEvent(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, _ := newStore(t, open)
		keys := sameLane(3)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		var evs []*events.Event
		for i, k := range keys {
			evs = append(evs, &events.Event{ID: fmt.Sprintf("e%d", i), TenantID: "acme", Type: "user.updated", AggregateKey: k, SubjectKey: "ada"})
		}
		require.NoError(t, st.Append(ctx, evs...))

		b, err := st.Claim(ctx, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, b.Events, 3)
		require.NoError(t, st.Complete(ctx, b, []string{"e0", "e2"}, now), "e1 refused by the broker")
		n, err := st.Pending(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		assert.Equal(t, []string{"e1"}, relayAll(t, st, now), "only the refused event comes again")
		n, err = st.Pending(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)

		removed, err := st.Expire(ctx, time.Now().Add(time.Hour), 100)
		require.NoError(t, err)
		assert.Equal(t, 3, removed, "relayed events expire, under the watermark or marked")
		assert.Empty(t, relayAll(t, st, now))
	})
}

// TestWatermarkKeepsEventsCommittedBehindIt: on PostgreSQL a
// transaction can commit an event after one written later has been
// relayed; the lane's watermark then lies past it, and the event must
// still be relayed, once.
func TestWatermarkKeepsEventsCommittedBehindIt(t *testing.T) {
	ctx := context.Background()
	st, db := newStore(t, sqldbtest.OpenPostgres)
	keys := sameLane(3)
	now := time.Now()

	slow, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = slow.Rollback() }()
	require.NoError(t, st.AppendTx(ctx, slow, &events.Event{ID: "slow", TenantID: "acme", Type: "user.updated", AggregateKey: keys[0]}))
	require.NoError(t, st.Append(ctx, &events.Event{ID: "fast", TenantID: "acme", Type: "user.updated", AggregateKey: keys[1]}))

	assert.Equal(t, []string{"fast"}, relayAll(t, st, now), "the slow transaction has not committed")
	require.NoError(t, slow.Commit())
	require.NoError(t, st.Append(ctx, &events.Event{ID: "next", TenantID: "acme", Type: "user.updated", AggregateKey: keys[2]}))
	assert.Equal(t, []string{"slow", "next"}, relayAll(t, st, now), "the event committed behind the watermark comes first")
	assert.Empty(t, relayAll(t, st, now), "and neither comes again")
	n, err := st.Pending(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestWatermarkUnderConcurrentWriters: writers in many transactions
// committing in any order, relays claiming as they go; every event is
// relayed exactly once.
func TestWatermarkUnderConcurrentWriters(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, db := newStore(t, open)
		keys := sameLane(8)
		const writers, each = 4, 25
		done := make(chan error, writers)
		for w := range writers {
			go func() {
				for i := range each {
					err := db.InTx(ctx, func(tx *sql.Tx) error {
						return st.AppendTx(ctx, tx, &events.Event{ID: fmt.Sprintf("w%d-%d", w, i), TenantID: "acme", Type: "user.updated", AggregateKey: keys[(w*each+i)%len(keys)]})
					})
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		seen := map[string]int{}
		finished := 0
		for finished < writers {
			select {
			case err := <-done:
				require.NoError(t, err)
				finished++
			default:
			}
			for _, id := range relayAll(t, st, time.Now()) {
				seen[id]++
			}
		}
		for _, id := range relayAll(t, st, time.Now()) {
			seen[id]++
		}
		require.Len(t, seen, writers*each)
		for id, n := range seen {
			assert.Equal(t, 1, n, id)
		}
	})
}
