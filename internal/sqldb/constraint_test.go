package sqldb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestIsUniqueViolation(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER NOT NULL)")
		require.NoError(t, err)
		insert := db.Dialect.Rebind("INSERT INTO u (id, name, n) VALUES (?, ?, ?)")
		_, err = db.ExecContext(ctx, insert, 1, "a", 1)
		require.NoError(t, err)

		_, err = db.ExecContext(ctx, insert, 1, "b", 1)
		assert.True(t, sqldb.IsUniqueViolation(err), "primary key: %v", err)
		_, err = db.ExecContext(ctx, insert, 2, "a", 1)
		assert.True(t, sqldb.IsUniqueViolation(err), "unique column: %v", err)
		_, err = db.ExecContext(ctx, insert, 3, "c", nil)
		require.Error(t, err)
		assert.False(t, sqldb.IsUniqueViolation(err), "not-null is another constraint: %v", err)
		assert.False(t, sqldb.IsUniqueViolation(errors.New("UNIQUE constraint failed")))
		assert.False(t, sqldb.IsUniqueViolation(nil))
	})
}
