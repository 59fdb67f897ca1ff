package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	"github.com/saaskit/saaskit/crypto/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		cryptotest.RunStoreTests(t, func(t *testing.T) (skcrypto.KeyStore, skcrypto.Tombstones) {
			s, err := sqlstore.New(open(t).DB)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			require.NoError(t, s.Migrate(context.Background()), "migrate twice")
			return s, s
		})
	})
}
