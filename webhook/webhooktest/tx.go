package webhooktest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// TxAdapter is an Adapter that enqueues in the caller's transaction: a
// transactional outbox.
type TxAdapter interface {
	Adapter
	webhook.TxQueue
}

// RunTxQueueTests is the conformance suite for webhook.TxQueue, and for
// webhook.BulkTxQueue when the adapter has it. open returns an empty
// adapter and the database whose transactions it enqueues in. The suite
// creates a table "outbox_test_orders" of its own in that database to
// stand for the application's change.
func RunTxQueueTests(t *testing.T, open func(t *testing.T) (TxAdapter, *sql.DB)) {
	t.Run("CommitsAndRollsBackWithTheCaller", func(t *testing.T) {
		a, db := open(t)
		testEnqueueTx(t, a, db)
	})
	t.Run("BulkCommitsAndRollsBackWithTheCaller", func(t *testing.T) {
		a, db := open(t)
		bq, ok := a.(webhook.BulkTxQueue)
		if !ok {
			t.Skip("the adapter does not implement webhook.BulkTxQueue")
		}
		testEnqueueManyTx(t, a, bq, db)
	})
}

// orders stands for the application's own table, written in the same
// transaction as the enqueue. Literal SQL, so that it runs on any
// engine without a placeholder dialect.
type orders struct {
	t  *testing.T
	db *sql.DB
}

func newOrders(t *testing.T, db *sql.DB) orders {
	_, err := db.Exec("CREATE TABLE outbox_test_orders (id VARCHAR(64) PRIMARY KEY)")
	require.NoError(t, err)
	return orders{t, db}
}

func (o orders) insert(tx *sql.Tx, id string) {
	o.t.Helper()
	_, err := tx.Exec(fmt.Sprintf("INSERT INTO outbox_test_orders (id) VALUES ('%s')", id))
	require.NoError(o.t, err)
}

func (o orders) count() int {
	o.t.Helper()
	var n int
	require.NoError(o.t, o.db.QueryRow("SELECT COUNT(*) FROM outbox_test_orders").Scan(&n))
	return n
}

// begin starts a transaction that is rolled back if the test ends with
// it open, before the database goes.
func begin(t *testing.T, db *sql.DB) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

func deliveries(t *testing.T, a Adapter, tenant string) []*webhook.Delivery {
	t.Helper()
	ds, err := a.Deliveries(context.Background(), tenant, webhook.DeliveryFilter{})
	require.NoError(t, err)
	return ds
}

func testEnqueueTx(t *testing.T, a TxAdapter, db *sql.DB) {
	ctx := context.Background()
	o := newOrders(t, db)
	eps := []*webhook.Endpoint{endpoint("acme", "ep1", false), endpoint("acme", "ep2", true)}

	tx := begin(t, db)
	o.insert(tx, "o1")
	require.NoError(t, a.EnqueueTx(ctx, tx, message("acme", "m1"), eps))
	require.NoError(t, tx.Rollback())
	assert.Zero(t, o.count())
	assert.Empty(t, deliveries(t, a, "acme"), "a rolled-back enqueue left deliveries")
	claimed, err := a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, claimed, "a rolled-back enqueue can be claimed")

	tx = begin(t, db)
	o.insert(tx, "o1")
	require.NoError(t, a.EnqueueTx(ctx, tx, message("acme", "m1"), eps), "the rolled-back message ID is free again")
	require.NoError(t, tx.Commit())
	assert.Equal(t, 1, o.count())
	ds := deliveries(t, a, "acme")
	require.Len(t, ds, 2)
	for _, d := range ds {
		assert.Equal(t, "m1", d.Message.ID)
		assert.Equal(t, webhook.StatePending, d.State)
	}
	claimed, err = a.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	assert.Len(t, claimed, 2, "a committed enqueue is claimable")

	// A used ID is ErrConflict and leaves the transaction usable.
	tx = begin(t, db)
	assert.ErrorIs(t, a.EnqueueTx(ctx, tx, message("acme", "m1"), eps), webhook.ErrConflict)
	o.insert(tx, "o2")
	require.NoError(t, tx.Commit(), "the transaction survives a conflicting enqueue")
	assert.Equal(t, 2, o.count())
	assert.Len(t, deliveries(t, a, "acme"), 2)

	assert.ErrorIs(t, a.EnqueueTx(ctx, nil, message("acme", "m9"), eps), webhook.ErrInvalid, "no transaction")
}

func testEnqueueManyTx(t *testing.T, a Adapter, bq webhook.BulkTxQueue, db *sql.DB) {
	ctx := context.Background()
	o := newOrders(t, db)
	eps := map[string][]*webhook.Endpoint{
		"acme":   {endpoint("acme", "ep1", false)},
		"globex": {endpoint("globex", "ep1", true)},
	}
	batch := func(round int) []webhook.Outgoing {
		var out []webhook.Outgoing
		for i := range 1200 { // more than one statement's worth on most engines
			tenant := []string{"acme", "globex"}[i%2]
			out = append(out, webhook.Outgoing{Message: message(tenant, fmt.Sprintf("m%d-%d", round, i)), Endpoints: eps[tenant]})
		}
		return out
	}

	tx := begin(t, db)
	o.insert(tx, "o1")
	require.NoError(t, bq.EnqueueManyTx(ctx, tx, batch(1)))
	require.NoError(t, tx.Rollback())
	assert.Zero(t, o.count())
	assert.Empty(t, deliveries(t, a, "acme"), "rolled back, yet queued")

	tx = begin(t, db)
	o.insert(tx, "o1")
	require.NoError(t, bq.EnqueueManyTx(ctx, tx, batch(1)), "the rolled-back IDs are free again")
	require.NoError(t, tx.Commit())
	assert.Equal(t, 1, o.count())
	assert.Len(t, deliveries(t, a, "acme"), 600)
	assert.Len(t, deliveries(t, a, "globex"), 600)

	assert.ErrorIs(t, bq.EnqueueManyTx(ctx, nil, batch(2)), webhook.ErrInvalid, "no transaction")
}
