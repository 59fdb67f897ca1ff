package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

var backends = []struct {
	name string
	open func(t testing.TB) *sqldb.DB
}{{"sqlite", sqldbtest.OpenSQLite}, {"postgres", sqldbtest.OpenPostgres}}

func newStore(t *testing.T, open func(t testing.TB) *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(open(t).DB)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			tenancytest.RunStoreTests(t, func(t *testing.T) tenancytest.Adapter { return newStore(t, b.open) })
		})
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := newStore(t, b.open)
			require.NoError(t, s.Migrate(context.Background()))
			require.NoError(t, s.Create(context.Background(), tenancytest.Tenant("acme")))
			require.NoError(t, s.Migrate(context.Background()))
			_, err := s.Lookup(context.Background(), tenancy.BySlug, "acme")
			assert.NoError(t, err)
		})
	}
}

// A registry over the SQL store survives a restart: what was written is
// there when the file is opened again.
func TestOpenPersists(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "tenants.db")
	s, err := sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	tn, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme", Domains: []string{"app.acme.com"}})
	require.NoError(t, err)
	tok, _, err := reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{})
	require.NoError(t, err)
	require.NoError(t, reg.Close())
	require.NoError(t, s.Close())

	s, err = sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	defer s.Close()
	reg = tenancy.NewRegistry(s, s, tenancy.Options{})
	defer reg.Close()
	got, err := reg.Lookup(ctx, tenancy.ByDomain, "app.acme.com")
	require.NoError(t, err)
	assert.Equal(t, tn.ID, got.ID)
	who, _, err := reg.Authenticate(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tn.ID, who.ID)
}

func TestNewRejectsUnknownDriver(t *testing.T) {
	_, err := sqlstore.New(nil)
	assert.Error(t, err)
	_, err = sqlstore.Open(context.Background(), "mysql://nope")
	assert.Error(t, err)
}
