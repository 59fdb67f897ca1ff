package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
)

// retentionSoakSize is how many messages a simulated day brings, each
// to two endpoints, and for how many days: 1,000,000 deliveries in a
// soak run (SAASKIT_SOAK=1) without the race detector, 8,000 otherwise:
// the race detector slows the pure-Go SQLite about thirtyfold, so CI
// runs the full size in a pass of its own without it. perDay is a
// multiple of 20, the share of messages that dead-letter.
func retentionSoakSize() (perDay, days int) {
	if os.Getenv("SAASKIT_SOAK") == "" || raceEnabled {
		return 100, 40
	}
	return 12500, 40
}

// storageSize is the queue's rows per table and the SQLite file's pages.
type storageSize struct {
	messages, deliveries, attempts int
	pages, free                    int
}

func (s storageSize) String() string {
	return fmt.Sprintf("messages %d, deliveries %d, attempts %d, pages %d (free %d)", s.messages, s.deliveries, s.attempts, s.pages, s.free)
}

func measure(t *testing.T, db *sqldb.DB) storageSize {
	t.Helper()
	rows := rowCounts(t, db)
	s := storageSize{messages: rows["webhook_messages"], deliveries: rows["webhook_deliveries"], attempts: rows["webhook_attempts"]}
	require.NoError(t, db.QueryRow("PRAGMA page_count").Scan(&s.pages))
	require.NoError(t, db.QueryRow("PRAGMA freelist_count").Scan(&s.free))
	return s
}

// TestRetentionKeepsStorageFlat runs a SQLite queue under steady load
// for 40 simulated days, on a fake clock: each day brings the same
// messages, each to two endpoints, delivered within the day (one in 20
// messages dead-letters one delivery), and a retention sweep of 7 days
// for successes, 14 for dead letters and 2 for payloads. Once the
// longest retention has passed, every table holds the same rows day
// after day, and the file stops growing: deleted rows' pages are reused.
func TestRetentionKeepsStorageFlat(t *testing.T) {
	perDay, days := retentionSoakSize()
	ctx := context.Background()
	db := sqldbtest.OpenSQLite(t)
	st := newStore(t, db)
	clock := testclock.New(t0)
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return nil }, webhook.DispatcherOptions{Now: clock.Now})
	require.NoError(t, err)
	r := webhook.Retention{Finished: 7 * day, Dead: 14 * day, Payload: 2 * day}
	const steady = 14 // the first day that dead letters go

	var sizes []storageSize
	for i := range days {
		finishMessages(t, st, clock.Now(), fmt.Sprint("d", i), perDay)
		clock.Advance(12 * time.Hour)
		res, err := d.Expire(ctx, r)
		require.NoError(t, err)
		clock.Advance(12 * time.Hour)
		size := measure(t, db)
		sizes = append(sizes, size)
		t.Logf("day %2d: removed %d messages, %d deliveries, %d attempts, %d payloads; %s",
			i, res.Messages, res.Deliveries, res.Attempts, res.Payloads, size)
	}
	// Each day's messages: perDay/20 keep a dead letter for 14 days, the
	// rest go after 7 days with their succeeded deliveries.
	dead := perDay / 20
	want := storageSize{messages: 7*perDay + 7*dead, deliveries: 7*2*perDay + 7*dead, attempts: 7*2*perDay + 7*dead}
	for i := steady; i < days; i++ {
		got := sizes[i]
		got.pages, got.free = 0, 0
		assert.Equal(t, want, got, "rows on day %d", i)
	}
	// A B-tree reuses free pages but settles at a fill below what it was
	// built at, so allow the file 5% beyond its size when the rows stopped
	// growing; unbounded growth would be days/steady times that.
	settled, last := sizes[steady].pages, sizes[days-1].pages
	assert.LessOrEqual(t, last, settled+settled/20, "pages grew from %d on day %d to %d on day %d", settled, steady, last, days-1)
}
