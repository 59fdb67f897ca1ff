// Package sqlstore keeps crypto key records and tombstones in SQLite or
// PostgreSQL (tables crypto_keys and crypto_tombstones).
//
// Tombstones must outlive key-store restores: give NewTombstones a
// database that a restore of the key store does not roll back, or make
// sure your restore procedure leaves crypto_tombstones alone.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Store implements crypto.KeyStore and crypto.Tombstones over one
// database.
type Store struct {
	db *sqldb.DB
}

var (
	_ skcrypto.KeyStore   = (*Store)(nil)
	_ skcrypto.Tombstones = (*Store)(nil)
)

// New returns a Store over db (modernc.org/sqlite or pgx's stdlib
// driver). Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("crypto sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the tables; idempotent and safe to run
// from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "crypto", migrations, "migrations"); err != nil {
		return fmt.Errorf("crypto sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

const columns = "tenant_id, id, kind, subject, material, wrapped_by, meta, created_at, version"

// Create implements crypto.KeyStore.
func (s *Store) Create(ctx context.Context, r *skcrypto.KeyRecord) error {
	_, err := s.db.ExecContext(ctx, s.q("INSERT INTO crypto_keys ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"),
		r.TenantID, r.ID, string(r.Kind), r.Subject, r.Material, int64(r.WrappedBy), r.Meta, sqldb.Timestamp(r.CreatedAt))
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("key %s of tenant %s: %w", r.ID, r.TenantID, skcrypto.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	r.Version = 1
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scan(row scanner) (*skcrypto.KeyRecord, error) {
	var (
		r         skcrypto.KeyRecord
		kind      string
		wrappedBy int64
	)
	if err := row.Scan(&r.TenantID, &r.ID, &kind, &r.Subject, &r.Material, &wrappedBy, &r.Meta, &r.CreatedAt, &r.Version); err != nil {
		return nil, err
	}
	r.Kind, r.WrappedBy, r.CreatedAt = skcrypto.Kind(kind), uint32(wrappedBy), r.CreatedAt.UTC()
	return &r, nil
}

// Get implements crypto.KeyStore.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*skcrypto.KeyRecord, error) {
	r, err := scan(s.db.QueryRowContext(ctx, s.q("SELECT "+columns+" FROM crypto_keys WHERE tenant_id = ? AND id = ?"), tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key %s of tenant %s: %w", id, tenantID, skcrypto.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key: %w", err)
	}
	return r, nil
}

// Update implements crypto.KeyStore.
func (s *Store) Update(ctx context.Context, r *skcrypto.KeyRecord) error {
	res, err := s.db.ExecContext(ctx, s.q("UPDATE crypto_keys SET material = ?, wrapped_by = ?, meta = ?, version = version + 1 WHERE tenant_id = ? AND id = ? AND version = ?"),
		r.Material, int64(r.WrappedBy), r.Meta, r.TenantID, r.ID, r.Version)
	if err != nil {
		return fmt.Errorf("update key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update key: %w", err)
	} else if n == 0 {
		if _, err := s.Get(ctx, r.TenantID, r.ID); err != nil {
			return err
		}
		return fmt.Errorf("key %s of tenant %s version %d is stale: %w", r.ID, r.TenantID, r.Version, skcrypto.ErrConflict)
	}
	r.Version++
	return nil
}

// List implements crypto.KeyStore.
func (s *Store) List(ctx context.Context, tenantID string, f skcrypto.Filter) ([]*skcrypto.KeyRecord, error) {
	query := "SELECT " + columns + " FROM crypto_keys WHERE tenant_id = ?"
	args := []any{tenantID}
	if f.Kind != "" {
		query += " AND kind = ?"
		args = append(args, string(f.Kind))
	}
	if f.SubjectSet {
		query += " AND subject = ?"
		args = append(args, f.Subject)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+" ORDER BY created_at, id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []*skcrypto.KeyRecord
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// Delete implements crypto.KeyStore.
func (s *Store) Delete(ctx context.Context, tenantID string, ids []string) error {
	for chunk := range chunks(ids, 500) {
		args := []any{tenantID}
		for _, id := range chunk {
			args = append(args, id)
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM crypto_keys WHERE tenant_id = ? AND id IN ("+marks+")"), args...); err != nil {
			return fmt.Errorf("delete keys: %w", err)
		}
	}
	return nil
}

func chunks(ids []string, size int) func(yield func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(ids) > 0 {
			n := min(size, len(ids))
			if !yield(ids[:n]) {
				return
			}
			ids = ids[n:]
		}
	}
}

// Bury implements crypto.Tombstones.
func (s *Store) Bury(ctx context.Context, ts []skcrypto.Tombstone) error {
	if len(ts) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("bury keys: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	insert := s.q("INSERT INTO crypto_tombstones (tenant_id, key_id, buried_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id, key_id) DO NOTHING")
	for _, t := range ts {
		if _, err := tx.ExecContext(ctx, insert, t.TenantID, t.KeyID, sqldb.Timestamp(t.At)); err != nil {
			return fmt.Errorf("bury key %s: %w", t.KeyID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bury keys: %w", err)
	}
	return nil
}

// Buried implements crypto.Tombstones.
func (s *Store) Buried(ctx context.Context, tenantID, keyID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM crypto_tombstones WHERE tenant_id = ? AND key_id IN (?, 'kek')"), tenantID, keyID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check tombstones: %w", err)
	}
	return n > 0, nil
}
