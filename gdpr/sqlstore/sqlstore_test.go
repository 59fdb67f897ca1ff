package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		gdprtest.RunStoreTests(t, func(t *testing.T) gdpr.Store {
			s, err := sqlstore.New(open(t).DB)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			return s
		})
	})
}
