package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
	"github.com/saaskit/saaskit/backup/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		backuptest.RunLeaseTests(t, func(t *testing.T, now func() time.Time) backup.Leases {
			l, err := sqlstore.New(open(t).DB, now)
			require.NoError(t, err)
			require.NoError(t, l.Migrate(context.Background()))
			return l
		})
	})
}
