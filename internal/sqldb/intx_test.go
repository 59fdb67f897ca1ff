package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

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
