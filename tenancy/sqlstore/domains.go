package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/tenancy"
)

const domainColumns = "tenant_id, domain, state, token, created_at, checked_at, next_check_at, verified_at, failing_since, reason, version"

// AddDomain implements tenancy.DomainStore.
func (s *Store) AddDomain(ctx context.Context, d *tenancy.Domain) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTenant(ctx, tx, d.TenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenancy_domains (position, `+domainColumns+`)
			SELECT COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1 FROM tenancy_domains WHERE tenant_id = ?`),
			d.TenantID, d.Name, string(d.State), d.Token, sqldb.Timestamp(d.CreatedAt), nullTime(d.CheckedAt), nullTime(d.NextCheckAt),
			nullTime(d.VerifiedAt), nullTime(d.FailingSince), d.Reason, d.TenantID)
		if err != nil {
			return conflictOr(err, "domain "+d.Name)
		}
		if d.State.Serving() {
			return s.bumpTenant(ctx, tx, d.TenantID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add domain: %w", err)
	}
	d.Version = 1
	return nil
}

// lockTenant checks that the tenant exists and, on PostgreSQL, locks its
// row first, so that domain changes and tenant updates (which lock the
// tenant, then its domains) take their locks in one order and never
// deadlock.
func (s *Store) lockTenant(ctx context.Context, tx *sql.Tx, id string) error {
	forUpdate := ""
	if s.db.Dialect == sqldb.Postgres {
		forUpdate = " FOR UPDATE"
	}
	var one int
	err := tx.QueryRowContext(ctx, s.q("SELECT 1 FROM tenancy_tenants WHERE id = ?"+forUpdate), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tenant %q: %w", id, tenancy.ErrNotFound)
	}
	return err
}

// bumpTenant moves the tenant's version on when its serving domains
// change, so that an update read before the change retries.
func (s *Store) bumpTenant(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, s.q("UPDATE tenancy_tenants SET version = version + 1 WHERE id = ?"), id)
	return err
}

func scanDomain(row scanner) (*tenancy.Domain, error) {
	var (
		d                                   tenancy.Domain
		state                               string
		checked, next, verified, failingSin sql.NullTime
	)
	if err := row.Scan(&d.TenantID, &d.Name, &state, &d.Token, &d.CreatedAt, &checked, &next, &verified, &failingSin, &d.Reason, &d.Version); err != nil {
		return nil, err
	}
	d.State = tenancy.DomainState(state)
	d.CreatedAt = d.CreatedAt.UTC()
	d.CheckedAt, d.NextCheckAt, d.VerifiedAt, d.FailingSince = utcOrZero(checked), utcOrZero(next), utcOrZero(verified), utcOrZero(failingSin)
	return &d, nil
}

func (s *Store) queryDomains(ctx context.Context, query string, args ...any) ([]*tenancy.Domain, error) {
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+domainColumns+" FROM tenancy_domains WHERE "+query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tenancy.Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ListDomains implements tenancy.DomainStore.
func (s *Store) ListDomains(ctx context.Context, tenantID, name string) ([]*tenancy.Domain, error) {
	if !textfield.Storable(tenantID) || !textfield.Storable(name) {
		return nil, fmt.Errorf("domains of tenant %q: %w", tenantID, tenancy.ErrNotFound)
	}
	where, args := "tenant_id = ?", []any{tenantID}
	if name != "" {
		where, args = where+" AND domain = ?", append(args, name)
	}
	out, err := s.queryDomains(ctx, where+" ORDER BY position, domain", args...)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
	}
	return out, nil
}

// DueDomains implements tenancy.DomainStore.
func (s *Store) DueDomains(ctx context.Context, now time.Time, limit int) ([]*tenancy.Domain, error) {
	out, err := s.queryDomains(ctx, "next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, tenant_id, domain LIMIT ?",
		sqldb.Timestamp(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due domains: %w", err)
	}
	return out, nil
}

// UpdateDomain implements tenancy.DomainStore.
func (s *Store) UpdateDomain(ctx context.Context, d *tenancy.Domain) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTenant(ctx, tx, d.TenantID); errors.Is(err, tenancy.ErrNotFound) {
			return fmt.Errorf("domain %q: %w", d.Name, tenancy.ErrNotFound)
		} else if err != nil {
			return err
		}
		var state string
		err := tx.QueryRowContext(ctx, s.q("SELECT state FROM tenancy_domains WHERE tenant_id = ? AND domain = ?"), d.TenantID, d.Name).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %q: %w", d.Name, tenancy.ErrNotFound)
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tenancy_domains SET state = ?, checked_at = ?, next_check_at = ?, verified_at = ?,
			failing_since = ?, reason = ?, version = version + 1 WHERE tenant_id = ? AND domain = ? AND version = ?`),
			string(d.State), nullTime(d.CheckedAt), nullTime(d.NextCheckAt), nullTime(d.VerifiedAt), nullTime(d.FailingSince),
			d.Reason, d.TenantID, d.Name, d.Version)
		if err != nil {
			return conflictOr(err, "domain "+d.Name)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("domain %q version %d is stale: %w", d.Name, d.Version, tenancy.ErrConflict))
		}
		if tenancy.DomainState(state).Serving() != d.State.Serving() {
			return s.bumpTenant(ctx, tx, d.TenantID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update domain: %w", err)
	}
	d.Version++
	return nil
}

// RemoveDomain implements tenancy.DomainStore.
func (s *Store) RemoveDomain(ctx context.Context, tenantID, name string) error {
	if !textfield.Storable(tenantID) || !textfield.Storable(name) {
		return fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTenant(ctx, tx, tenantID); errors.Is(err, tenancy.ErrNotFound) {
			return fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
		} else if err != nil {
			return err
		}
		var state string
		err := tx.QueryRowContext(ctx, s.q("SELECT state FROM tenancy_domains WHERE tenant_id = ? AND domain = ?"), tenantID, name).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %q: %w", name, tenancy.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM tenancy_domains WHERE tenant_id = ? AND domain = ?"), tenantID, name); err != nil {
			return err
		}
		if tenancy.DomainState(state).Serving() {
			return s.bumpTenant(ctx, tx, tenantID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	return nil
}
