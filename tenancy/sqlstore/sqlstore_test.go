package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
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

var backends = sqldbtest.Engines

func newStore(t *testing.T, open func(t testing.TB) *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(open(t).DB)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			tenancytest.RunStoreTests(t, func(t *testing.T) tenancytest.Adapter { return newStore(t, b.Open) })
		})
	}
}

func TestDomainConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			tenancytest.RunDomainStoreTests(t, func(t *testing.T) tenancytest.DomainAdapter { return newStore(t, b.Open) })
		})
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			s := newStore(t, b.Open)
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

// Domains stored before verification existed stay verified and serving
// after the upgrade, with a token and no scheduled check.
func TestMigrateKeepsExistingDomainsServing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			migs, err := sqldb.LoadMigrations(os.DirFS("migrations"), db.Dialect.String())
			require.NoError(t, err)
			require.NoError(t, db.Migrate(ctx, "tenancy", migs[:2]))
			tn := tenancytest.Tenant("acme")
			_, err = db.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO tenancy_tenants (id, slug, name, status, plan, region, isolation, dsn, branding, api_version, settings, version, created_at, updated_at)
				VALUES (?, ?, ?, 'active', '', '', 'shared', '', '{}', '', '{}', 1, ?, ?)`), tn.ID, tn.Slug, tn.Name, tn.CreatedAt, tn.UpdatedAt)
			require.NoError(t, err)
			for i, d := range tn.Domains {
				_, err = db.ExecContext(ctx, db.Dialect.Rebind("INSERT INTO tenancy_domains (domain, tenant_id, position) VALUES (?, ?, ?)"), d, tn.ID, i)
				require.NoError(t, err)
			}

			s, err := sqlstore.New(db.DB)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			got, err := s.Lookup(ctx, tenancy.ByDomain, "acme.example")
			require.NoError(t, err)
			assert.Equal(t, tn.Domains, got.Domains)
			list, err := s.ListDomains(ctx, tn.ID, "")
			require.NoError(t, err)
			require.Len(t, list, 2)
			for _, d := range list {
				assert.Equal(t, tenancy.DomainVerified, d.State)
				assert.Len(t, d.Token, 32)
				assert.True(t, d.NextCheckAt.IsZero())
				assert.True(t, d.CreatedAt.Equal(tn.UpdatedAt))
			}
			assert.NotEqual(t, list[0].Token, list[1].Token)
		})
	}
}
