package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/consenttest"
	"github.com/saaskit/saaskit/gdpr/consent/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		consenttest.RunStoreTests(t, func(t *testing.T) consent.Store {
			s, err := sqlstore.New(open(t).DB)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
			return s
		})
	})
}
