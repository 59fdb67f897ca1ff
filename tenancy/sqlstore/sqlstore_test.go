package sqlstore_test

import (
	"context"
	"database/sql"
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

// A *sql.DB opened by hand has SQLite's foreign keys off: deleting a
// tenant must still take its keys and domains with it, so a reused ID
// inherits nothing.
func TestDeleteWithoutForeignKeys(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	defer reg.Close()
	_, err = reg.Create(ctx, &tenancy.Tenant{ID: "cust-42", Slug: "old", Name: "Old", Domains: []string{"old.example.org"}})
	require.NoError(t, err)
	tok, _, err := reg.CreateKey(ctx, "cust-42", tenancy.KeyOptions{Scopes: []string{"admin"}})
	require.NoError(t, err)
	require.NoError(t, reg.Delete(ctx, "cust-42"))

	_, err = reg.Create(ctx, &tenancy.Tenant{ID: "cust-42", Slug: "newco", Name: "New Co", Domains: []string{"old.example.org"}})
	require.NoError(t, err, "the old tenant's domain is still taken")
	_, _, err = reg.Authenticate(ctx, tok)
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated, "an old tenant's key logs into the new one")
}
