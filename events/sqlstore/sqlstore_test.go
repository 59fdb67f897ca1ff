package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/eventstest"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func newStore(t testing.TB, open func(testing.TB) *sqldb.DB) (*sqlstore.Store, *sqldb.DB) {
	db := open(t)
	st, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	require.NoError(t, st.Migrate(context.Background()), "migrating twice is a no-op")
	return st, db
}

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		eventstest.RunStoreTests(t, func(t *testing.T) events.Store { st, _ := newStore(t, open); return st })
		eventstest.RunInboxTests(t, func(t *testing.T) events.Inbox { st, _ := newStore(t, open); return st })
	})
}

func TestAppendTxCommitsWithTheChange(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, db := newStore(t, open)
		_, err := db.Exec(`CREATE TABLE users (id TEXT PRIMARY KEY)`)
		require.NoError(t, err)

		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(db.Dialect.Rebind(`INSERT INTO users (id) VALUES (?)`), "u1"); err != nil {
				return err
			}
			return st.AppendTx(ctx, tx, &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/u1"})
		})
		require.NoError(t, err)
		_ = db.InTx(ctx, func(tx *sql.Tx) error {
			require.NoError(t, st.AppendTx(ctx, tx, &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/u2"}))
			return assert.AnError // rolls back
		})
		n, err := st.Pending(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the rolled-back event is gone")
	})
}

func TestHandlerWritesCommitWithTheInboxRecord(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, db := newStore(t, open)
		_, err := db.Exec(`CREATE TABLE invoices (user_id TEXT PRIMARY KEY)`)
		require.NoError(t, err)
		e := &events.Event{ID: "e1", TenantID: "acme", Type: "user.created", Version: 1, AggregateKey: "user/u1", AggregateSeq: 1}
		h := func(ctx context.Context, e *events.Event) error {
			tx := events.Tx(ctx)
			require.NotNil(t, tx)
			_, err := tx.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO invoices (user_id) VALUES (?)`), "u1")
			return err
		}
		for _, want := range []events.Outcome{events.Handled, events.Duplicate} {
			o, err := st.Process(ctx, "billing", e, h)
			require.NoError(t, err)
			assert.Equal(t, want, o)
		}
		var n int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&n))
		assert.Equal(t, 1, n)
	})
}

func TestExpireDeletesRelayedEvents(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, _ := newStore(t, open)
		e := &events.Event{TenantID: "acme", Type: "user.created"}
		require.NoError(t, st.Append(ctx, e, &events.Event{TenantID: "acme", Type: "user.created"}))
		now := time.Now()
		b, err := st.Claim(ctx, now, time.Minute, 10)
		require.NoError(t, err)
		require.NotNil(t, b)
		require.NoError(t, st.Complete(ctx, b, []string{b.Events[0].ID}, now))
		n, err := st.Expire(ctx, now.Add(time.Second), 100)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		p, err := st.Pending(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, p, "unrelayed events stay")
	})
}
