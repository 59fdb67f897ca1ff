package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/sqlstore"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		versioningtest.RunPinStoreTests(t, func(t *testing.T) versioning.PinStore {
			s, err := sqlstore.New(open(t).DB)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
			return s
		})
	})
}
