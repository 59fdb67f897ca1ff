// Package sqlstore is the SQL tenancy store, for SQLite (embedded, the
// default) and PostgreSQL (many processes on many machines).
//
//	st, err := sqlstore.Open(ctx, "sqlite:data/saas.db") // or postgres://...
//	if err != nil { ... }
//	defer st.Close()
//	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
//
// Or wrap a *sql.DB you opened (modernc.org/sqlite or pgx's stdlib
// driver) with New, then call Migrate once at start-up.
//
// The Store is also a tenancy.LimitStore: as RateLimitOptions.Shared it
// keeps the rate limiter's buckets in the database, so every replica on
// it takes from the same ones (see Store.Take). It is also a
// tenancy.UsageStore: as the store of a tenancy.Metering, every replica
// counts each tenant's usage in the same counters and keeps its plan's
// limits together (see Store.AddUsage).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/tenancy"
)

//go:embed migrations
var migrations embed.FS

// Store keeps tenants, their domain claims and API keys in three tables
// (tenancy_tenants, tenancy_domains, tenancy_api_keys). It implements
// tenancy.Store, tenancy.KeyStore and tenancy.DomainStore (a partial
// unique index lets one claim per domain serve), tenancy.LimitStore
// with a fourth table (tenancy_rate_limits; see Take), and
// tenancy.UsageStore with a fifth (tenancy_usage; see AddUsage).
type Store struct {
	db      *sqldb.DB
	owned   bool         // Close closes db
	sweepAt atomic.Int64 // Unix microseconds of Take's next sweep of idle buckets
}

var (
	_ tenancy.Store       = (*Store)(nil)
	_ tenancy.KeyStore    = (*Store)(nil)
	_ tenancy.DomainStore = (*Store)(nil)
)

// New returns a Store over db, which must come from modernc.org/sqlite or
// github.com/jackc/pgx/v5/stdlib. Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("tenancy sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Open opens the database at dsn (see the sqldb DSN forms: sqlite:PATH,
// postgres://...), migrates it and returns a Store that Close closes.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("tenancy sqlstore: %w", err)
	}
	s := &Store{db: db, owned: true}
	if err := s.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the underlying database.
func (s *Store) DB() *sql.DB { return s.db.DB }

// Close closes the database if Open opened it.
func (s *Store) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// Migrate creates or upgrades the store's tables. It is idempotent and
// safe to run from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "tenancy", migrations, "migrations"); err != nil {
		return fmt.Errorf("tenancy sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

const tenantColumns = "id, slug, name, status, plan, region, isolation, dsn, branding, api_version, settings, version, created_at, updated_at"

// Create implements tenancy.Store.
func (s *Store) Create(ctx context.Context, t *tenancy.Tenant) error {
	branding, settings, err := encodeTenant(t)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO tenancy_tenants ("+tenantColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"),
			t.ID, t.Slug, t.Name, string(t.Status), t.Plan, t.Region, string(t.Isolation), t.DSN,
			branding, t.APIVersion, settings, sqldb.Timestamp(t.CreatedAt), sqldb.Timestamp(t.UpdatedAt))
		if err != nil {
			return conflictOr(err, "tenant "+t.ID)
		}
		return s.insertDomains(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	t.Version = 1
	return nil
}

// insertDomains stores t.Domains as serving domains: new names, and the
// tenant's pending or revoked claims on them, become verified (asserted
// by the operator, not re-checked on a schedule); serving ones keep
// their state.
func (s *Store) insertDomains(ctx context.Context, tx *sql.Tx, t *tenancy.Tenant) error {
	for i, d := range t.Domains {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenancy_domains (tenant_id, domain, position, state, token, created_at, verified_at, reason, version)
			VALUES (?, ?, ?, 'verified', ?, ?, ?, '', 1)
			ON CONFLICT (tenant_id, domain) DO UPDATE SET position = excluded.position,
				state = CASE WHEN tenancy_domains.state = 'failing' THEN 'failing' ELSE 'verified' END,
				verified_at = CASE WHEN tenancy_domains.state IN ('verified', 'failing') THEN tenancy_domains.verified_at ELSE excluded.verified_at END,
				reason = CASE WHEN tenancy_domains.state IN ('verified', 'failing') THEN tenancy_domains.reason ELSE '' END,
				version = tenancy_domains.version + 1`),
			t.ID, d, i, tenancy.NewDomainToken(), sqldb.Timestamp(t.UpdatedAt), sqldb.Timestamp(t.UpdatedAt))
		if err != nil {
			return conflictOr(err, "domain "+d)
		}
	}
	return nil
}

// serving is the SQL condition of a claim that serves its domain.
const serving = "state IN ('verified', 'failing')"

// conflictOr turns a unique-constraint violation into ErrConflict.
func conflictOr(err error, what string) error {
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, tenancy.ErrConflict)
	}
	return err
}

func encodeTenant(t *tenancy.Tenant) (branding, settings string, err error) {
	b, err := json.Marshal(t.Branding)
	if err != nil {
		return "", "", fmt.Errorf("encode branding: %w", err)
	}
	st := t.Settings
	if st == nil {
		st = map[string]string{}
	}
	sj, err := json.Marshal(st)
	if err != nil {
		return "", "", fmt.Errorf("encode settings: %w", err)
	}
	return string(b), string(sj), nil
}

type scanner interface{ Scan(dest ...any) error }

func scanTenant(row scanner) (*tenancy.Tenant, error) {
	var (
		t                  tenancy.Tenant
		status, isolation  string
		branding, settings []byte
	)
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &status, &t.Plan, &t.Region, &isolation, &t.DSN,
		&branding, &t.APIVersion, &settings, &t.Version, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return nil, err
	}
	t.Status, t.Isolation = tenancy.Status(status), tenancy.Isolation(isolation)
	if err := json.Unmarshal(branding, &t.Branding); err != nil {
		return nil, fmt.Errorf("decode branding of tenant %s: %w", t.ID, err)
	}
	if err := json.Unmarshal(settings, &t.Settings); err != nil {
		return nil, fmt.Errorf("decode settings of tenant %s: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// Lookup implements tenancy.Store.
func (s *Store) Lookup(ctx context.Context, by tenancy.Field, value string) (*tenancy.Tenant, error) {
	var where string
	switch by {
	case tenancy.ByID:
		where = "id = ?"
	case tenancy.BySlug:
		where = "slug = ?"
	case tenancy.ByDomain:
		where = "id = (SELECT tenant_id FROM tenancy_domains WHERE domain = ? AND " + serving + ")"
	default:
		return nil, fmt.Errorf("lookup by %s: %w", by, tenancy.ErrInvalid)
	}
	if !textfield.Storable(value) {
		return nil, fmt.Errorf("tenant with %s %q: %w", by, value, tenancy.ErrNotFound)
	}
	t, err := scanTenant(s.db.QueryRowContext(ctx, s.q("SELECT "+tenantColumns+" FROM tenancy_tenants WHERE "+where), value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenant with %s %q: %w", by, value, tenancy.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup tenant by %s: %w", by, err)
	}
	if err := s.loadDomains(ctx, []*tenancy.Tenant{t}); err != nil {
		return nil, err
	}
	return t, nil
}

// loadDomains fills in the domains of ts with one query.
func (s *Store) loadDomains(ctx context.Context, ts []*tenancy.Tenant) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[string]*tenancy.Tenant, len(ts))
	args := make([]any, len(ts))
	for i, t := range ts {
		byID[t.ID] = t
		args[i] = t.ID
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ts)), ", ")
	rows, err := s.db.QueryContext(ctx, s.q("SELECT tenant_id, domain FROM tenancy_domains WHERE tenant_id IN ("+marks+") AND "+serving+" ORDER BY tenant_id, position"), args...)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, d string
		if err := rows.Scan(&id, &d); err != nil {
			return fmt.Errorf("load domains: %w", err)
		}
		byID[id].Domains = append(byID[id].Domains, d)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	return nil
}

// Update implements tenancy.Store.
func (s *Store) Update(ctx context.Context, t *tenancy.Tenant) error {
	branding, settings, err := encodeTenant(t)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tenancy_tenants SET slug = ?, name = ?, status = ?, plan = ?, region = ?,
			isolation = ?, dsn = ?, branding = ?, api_version = ?, settings = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND version = ?`),
			t.Slug, t.Name, string(t.Status), t.Plan, t.Region, string(t.Isolation), t.DSN, branding,
			t.APIVersion, settings, sqldb.Timestamp(t.UpdatedAt), t.ID, t.Version)
		if err != nil {
			return conflictOr(err, "slug "+t.Slug)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return s.missingOrStale(ctx, tx, t, err)
		}
		// Serving domains no longer listed go; claims in other states stay.
		drop := "DELETE FROM tenancy_domains WHERE tenant_id = ? AND " + serving
		args := []any{t.ID}
		if len(t.Domains) > 0 {
			drop += " AND domain NOT IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(t.Domains)), ", ") + ")"
			for _, d := range t.Domains {
				args = append(args, d)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(drop), args...); err != nil {
			return err
		}
		return s.insertDomains(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("update tenant: %w", err)
	}
	t.Version++
	return nil
}

// missingOrStale explains an update that changed no row.
func (s *Store) missingOrStale(ctx context.Context, tx *sql.Tx, t *tenancy.Tenant, err error) error {
	if err != nil {
		return err
	}
	var version int64
	err = tx.QueryRowContext(ctx, s.q("SELECT version FROM tenancy_tenants WHERE id = ?"), t.ID).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tenant %q: %w", t.ID, tenancy.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("tenant %q version %d is stale (now %d): %w", t.ID, t.Version, version, tenancy.ErrConflict)
}

// List implements tenancy.Store.
func (s *Store) List(ctx context.Context, opts tenancy.ListOptions) ([]*tenancy.Tenant, error) {
	query := "SELECT " + tenantColumns + " FROM tenancy_tenants WHERE id > ?"
	args := []any{opts.After}
	if opts.Status != "" {
		query += " AND status = ?"
		args = append(args, string(opts.Status))
	}
	query += " ORDER BY id LIMIT ?"
	args = append(args, opts.EffectiveLimit())
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []*tenancy.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if err := s.loadDomains(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements tenancy.Store. Domains and API keys are deleted
// explicitly in the same transaction rather than left to ON DELETE
// CASCADE, which SQLite only honours on connections with foreign keys
// on: a reused tenant ID must never inherit an old tenant's keys.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !textfield.Storable(id) {
		return fmt.Errorf("tenant %q: %w", id, tenancy.ErrNotFound)
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTenant(ctx, tx, id); err != nil {
			return err
		}
		for _, table := range []string{"tenancy_api_keys", "tenancy_domains"} {
			if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+table+" WHERE tenant_id = ?"), id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM tenancy_tenants WHERE id = ?"), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("tenant %q: %w", id, tenancy.ErrNotFound))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	return nil
}

const keyColumns = "id, tenant_id, name, prefix, hash, last4, scopes, created_at, expires_at, last_used_at, revoked_at"

// CreateKey implements tenancy.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *tenancy.APIKey) error {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	sj, err := json.Marshal(scopes)
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.q("SELECT 1 FROM tenancy_tenants WHERE id = ?"), k.TenantID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("tenant %q: %w", k.TenantID, tenancy.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q("INSERT INTO tenancy_api_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, k.Last4, string(sj), sqldb.Timestamp(k.CreatedAt),
			nullTime(k.ExpiresAt), nullTime(k.LastUsedAt), nullTime(k.RevokedAt))
		return conflictOr(err, "api key "+k.ID)
	})
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: sqldb.Timestamp(t), Valid: !t.IsZero()}
}

func scanKey(row scanner) (*tenancy.APIKey, error) {
	var (
		k                          tenancy.APIKey
		scopes                     []byte
		expires, lastUsed, revoked sql.NullTime
	)
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &k.Last4, &scopes, &k.CreatedAt, &expires, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of api key %s: %w", k.ID, err)
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = utcOrZero(expires), utcOrZero(lastUsed), utcOrZero(revoked)
	return &k, nil
}

func utcOrZero(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func (s *Store) queryKey(ctx context.Context, q sqldb.Querier, where string, args ...any) (*tenancy.APIKey, error) {
	for _, a := range args {
		if id, ok := a.(string); ok && !textfield.Storable(id) {
			return nil, fmt.Errorf("api key %q: %w", args[len(args)-1], tenancy.ErrNotFound)
		}
	}
	k, err := scanKey(q.QueryRowContext(ctx, s.q("SELECT "+keyColumns+" FROM tenancy_api_keys WHERE "+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("api key %q: %w", args[len(args)-1], tenancy.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// GetKey implements tenancy.KeyStore.
func (s *Store) GetKey(ctx context.Context, tenantID, id string) (*tenancy.APIKey, error) {
	return s.queryKey(ctx, s.db, "tenant_id = ? AND id = ?", tenantID, id)
}

// FindKey implements tenancy.KeyStore.
func (s *Store) FindKey(ctx context.Context, id string) (*tenancy.APIKey, error) {
	return s.queryKey(ctx, s.db, "id = ?", id)
}

// ListKeys implements tenancy.KeyStore.
func (s *Store) ListKeys(ctx context.Context, tenantID string) ([]*tenancy.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+keyColumns+" FROM tenancy_api_keys WHERE tenant_id = ? ORDER BY created_at, id"), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []*tenancy.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// UpdateKey implements tenancy.KeyStore. The row is read and written in
// one transaction (row-locked on PostgreSQL), so concurrent changes
// apply one after the other.
func (s *Store) UpdateKey(ctx context.Context, tenantID, id string, ch tenancy.KeyChange) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		forUpdate := ""
		if s.db.Dialect == sqldb.Postgres {
			forUpdate = " FOR UPDATE"
		}
		k, err := s.queryKey(ctx, tx, "tenant_id = ? AND id = ?"+forUpdate, tenantID, id)
		if err != nil {
			return err
		}
		ch.Apply(k)
		_, err = tx.ExecContext(ctx, s.q("UPDATE tenancy_api_keys SET expires_at = ?, last_used_at = ?, revoked_at = ? WHERE id = ?"),
			nullTime(k.ExpiresAt), nullTime(k.LastUsedAt), nullTime(k.RevokedAt), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("update api key: %w", err)
	}
	return nil
}
