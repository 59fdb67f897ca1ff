// Package sqlstore keeps tenants' pinned API versions in SQLite or
// PostgreSQL (table versioning_pins): a versioning.PinStore.
//
//	pins, err := sqlstore.New(db)
//	if err != nil { ... }
//	if err := pins.Migrate(ctx); err != nil { ... }
//	api, err := versioning.New(versioning.Options{Versions: ..., Pins: pins, AutoPin: true})
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/versioning"
)

//go:embed migrations
var migrations embed.FS

// Store is a versioning.PinStore in a database.
type Store struct {
	db *sqldb.DB
}

var _ versioning.PinStore = (*Store)(nil)

// New returns a Store over db, from modernc.org/sqlite or pgx's stdlib.
// Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("versioning sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the table; idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "versioning", migrations, "migrations"); err != nil {
		return fmt.Errorf("versioning sqlstore: %w", err)
	}
	return nil
}

// Pin implements versioning.PinStore.
func (s *Store) Pin(ctx context.Context, tenantID string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.db.Dialect.Rebind("SELECT version FROM versioning_pins WHERE tenant_id = ?"), tenantID).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", versioning.ErrNoPin
	case err != nil:
		return "", fmt.Errorf("versioning sqlstore: pin: %w", err)
	}
	return v, nil
}

// SetPin implements versioning.PinStore.
func (s *Store) SetPin(ctx context.Context, tenantID, version string) error {
	q := s.db.Dialect.Upsert("versioning_pins", []string{"tenant_id"}, []string{"tenant_id", "version", "pinned_at"})
	if _, err := s.db.ExecContext(ctx, q, tenantID, version, sqldb.Timestamp(time.Now())); err != nil {
		return fmt.Errorf("versioning sqlstore: set pin: %w", err)
	}
	return nil
}
