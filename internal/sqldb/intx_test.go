package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestInTx(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE n (v INTEGER)")
		require.NoError(t, err)
		insert := db.Dialect.Rebind("INSERT INTO n (v) VALUES (?)")
		count := func() int {
			var c int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM n").Scan(&c))
			return c
		}
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insert, 1)
			require.NoError(t, err)
			return boom
		})
		assert.ErrorIs(t, err, boom)
		assert.Zero(t, count(), "a failed transaction committed")
		assert.Panics(t, func() {
			_ = db.InTx(ctx, func(tx *sql.Tx) error {
				_, _ = tx.ExecContext(ctx, insert, 2)
				panic("handler bug")
			})
		})
		assert.Zero(t, count(), "a panicking transaction committed")
		require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insert, 3)
			return err
		}))
		assert.Equal(t, 1, count())
	})
}

// TestInTxQueuesSQLiteWriters: a process's write transactions on one
// SQLite database wait their turn in order, so none fails with
// SQLITE_BUSY because others kept taking the lock between the busy
// handler's polls. The busy timeout here is far shorter than the time
// the lock is held in all: before the queue, the writers below starved
// one another.
func TestInTxQueuesSQLiteWriters(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "q.db")+"?_busy_timeout=50")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.ExecContext(ctx, "CREATE TABLE n (v INTEGER)")
	require.NoError(t, err)

	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO n (v) VALUES (?)", w*each+i)
					time.Sleep(2 * time.Millisecond) // hold the lock a while, as a slow machine does
					return err
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	var c int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM n").Scan(&c))
	assert.Equal(t, writers*each, c)
}
