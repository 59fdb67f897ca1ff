// Package sqlstore keeps data-subject requests (table gdpr_requests),
// legal holds (gdpr_holds) and the breach register (gdpr_incidents) in
// SQLite or PostgreSQL: a gdpr.Store, gdpr.HoldStore and
// gdpr.IncidentStore that every replica of a service shares and that
// survive restarts.
//
//	st, err := sqlstore.New(db)
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	engine, err := gdpr.New(st, gdpr.Options{Holds: st}, sources...)
//	incidents := gdpr.NewIncidents(st, nil)
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
)

//go:embed migrations
var migrations embed.FS

// Store is a gdpr.Store in a database.
type Store struct {
	db *sqldb.DB
}

var _ gdpr.Store = (*Store)(nil)

// New returns a Store over db, from modernc.org/sqlite or pgx's stdlib.
// Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the table; idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "gdpr", migrations, "migrations"); err != nil {
		return fmt.Errorf("gdpr sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

// Create implements gdpr.Store.
func (s *Store) Create(ctx context.Context, r *gdpr.Request) error {
	if err := gdpr.CheckStorable(r); err != nil {
		return err
	}
	r.Version = 1
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO gdpr_requests (id, tenant_id, state, due_at, body, version) VALUES (?, ?, ?, ?, ?, 1)"),
		r.ID, r.TenantID, string(r.State), sqldb.Timestamp(r.DueAt), string(body))
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("request %s: %w", r.ID, gdpr.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: create: %w", err)
	}
	return nil
}

// Get implements gdpr.Store.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*gdpr.Request, error) {
	if !textfield.Storable(tenantID, id) {
		return nil, fmt.Errorf("request %q: %w", id, gdpr.ErrNotFound)
	}
	var body string
	err := s.db.QueryRowContext(ctx, s.q("SELECT body FROM gdpr_requests WHERE tenant_id = ? AND id = ?"), tenantID, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("request %s: %w", id, gdpr.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: get: %w", err)
	}
	return decode(body)
}

func decode(body string) (*gdpr.Request, error) {
	var r gdpr.Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: stored request: %w", err)
	}
	return &r, nil
}

// Update implements gdpr.Store.
func (s *Store) Update(ctx context.Context, r *gdpr.Request) error {
	if !textfield.Storable(r.TenantID, r.ID) {
		return fmt.Errorf("request %q: %w", r.ID, gdpr.ErrNotFound)
	}
	if err := gdpr.CheckStorable(r); err != nil {
		return err
	}
	next := *r
	next.Version++
	body, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE gdpr_requests SET state = ?, due_at = ?, body = ?, version = version + 1
		WHERE tenant_id = ? AND id = ? AND version = ?`),
		string(r.State), sqldb.Timestamp(r.DueAt), string(body), r.TenantID, r.ID, r.Version)
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, r.TenantID, r.ID); err != nil {
			return err
		}
		return fmt.Errorf("request %s: %w", r.ID, gdpr.ErrConflict)
	}
	r.Version++
	return nil
}

// List implements gdpr.Store.
func (s *Store) List(ctx context.Context, tenantID string, f gdpr.RequestFilter) ([]*gdpr.Request, error) {
	if !textfield.Storable(tenantID) {
		return nil, nil
	}
	q := "SELECT body FROM gdpr_requests WHERE tenant_id = ?"
	args := []any{tenantID}
	if f.State != "" {
		q += " AND state = ?"
		args = append(args, string(f.State))
	}
	if !f.DueBefore.IsZero() {
		q += " AND due_at < ?"
		args = append(args, sqldb.Timestamp(f.DueBefore))
	}
	return queryBodies(ctx, s, q+" ORDER BY due_at, id", args, decode)
}
