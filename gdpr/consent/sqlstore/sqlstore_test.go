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
	for name, open := range map[string]func(testing.TB) *sqldb.DB{"sqlite": sqldbtest.OpenSQLite, "postgres": sqldbtest.OpenPostgres} {
		t.Run(name, func(t *testing.T) {
			consenttest.RunStoreTests(t, func(t *testing.T) consent.Store {
				s, err := sqlstore.New(open(t).DB)
				require.NoError(t, err)
				require.NoError(t, s.Migrate(context.Background()))
				require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
				return s
			})
		})
	}
}
