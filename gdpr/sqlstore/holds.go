package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
)

var (
	_ gdpr.HoldStore     = (*Store)(nil)
	_ gdpr.IncidentStore = (*Store)(nil)
)

// PutHold implements gdpr.HoldStore (table gdpr_holds).
func (s *Store) PutHold(ctx context.Context, h gdpr.Hold) error {
	if err := h.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO gdpr_holds (tenant_id, subject_key, reason, placed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, subject_key) DO UPDATE SET reason = excluded.reason, placed_at = excluded.placed_at`),
		h.TenantID, h.SubjectKey, h.Reason, sqldb.Timestamp(h.PlacedAt))
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: place legal hold: %w", err)
	}
	return nil
}

// ReleaseHold implements gdpr.HoldStore.
func (s *Store) ReleaseHold(ctx context.Context, tenantID, subjectKey string) error {
	notFound := fmt.Errorf("legal hold of tenant %q, subject %q: %w", tenantID, subjectKey, gdpr.ErrNotFound)
	if !textfield.Storable(tenantID, subjectKey) {
		return notFound
	}
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM gdpr_holds WHERE tenant_id = ? AND subject_key = ?"), tenantID, subjectKey)
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: release legal hold: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound
	}
	return nil
}

// Holds implements gdpr.HoldStore.
func (s *Store) Holds(ctx context.Context, tenantID string) ([]gdpr.Hold, error) {
	if !textfield.Storable(tenantID) {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT subject_key, reason, placed_at FROM gdpr_holds WHERE tenant_id = ? ORDER BY subject_key"), tenantID)
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: legal holds: %w", err)
	}
	defer rows.Close()
	var out []gdpr.Hold
	for rows.Next() {
		h := gdpr.Hold{TenantID: tenantID}
		if err := rows.Scan(&h.SubjectKey, &h.Reason, &h.PlacedAt); err != nil {
			return nil, fmt.Errorf("gdpr sqlstore: legal holds: %w", err)
		}
		h.PlacedAt = h.PlacedAt.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: legal holds: %w", err)
	}
	return out, nil
}

// CreateIncident implements gdpr.IncidentStore (table gdpr_incidents).
func (s *Store) CreateIncident(ctx context.Context, inc *gdpr.Incident) error {
	if err := inc.CheckStorable(); err != nil {
		return err
	}
	inc.Version = 1
	body, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO gdpr_incidents (id, status, notify_by, body, version) VALUES (?, ?, ?, ?, 1)"),
		inc.ID, string(inc.Status), sqldb.Timestamp(inc.NotifyBy), string(body))
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("incident %s: %w", inc.ID, gdpr.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: create incident: %w", err)
	}
	return nil
}

// GetIncident implements gdpr.IncidentStore.
func (s *Store) GetIncident(ctx context.Context, id string) (*gdpr.Incident, error) {
	if !textfield.Storable(id) {
		return nil, fmt.Errorf("incident %q: %w", id, gdpr.ErrNotFound)
	}
	var body string
	err := s.db.QueryRowContext(ctx, s.q("SELECT body FROM gdpr_incidents WHERE id = ?"), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("incident %s: %w", id, gdpr.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: get incident: %w", err)
	}
	return decodeIncident(body)
}

func decodeIncident(body string) (*gdpr.Incident, error) {
	var inc gdpr.Incident
	if err := json.Unmarshal([]byte(body), &inc); err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: stored incident: %w", err)
	}
	return &inc, nil
}

// UpdateIncident implements gdpr.IncidentStore.
func (s *Store) UpdateIncident(ctx context.Context, inc *gdpr.Incident) error {
	if !textfield.Storable(inc.ID) {
		return fmt.Errorf("incident %q: %w", inc.ID, gdpr.ErrNotFound)
	}
	if err := inc.CheckStorable(); err != nil {
		return err
	}
	next := *inc
	next.Version++
	body, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q("UPDATE gdpr_incidents SET status = ?, notify_by = ?, body = ?, version = version + 1 WHERE id = ? AND version = ?"),
		string(inc.Status), sqldb.Timestamp(inc.NotifyBy), string(body), inc.ID, inc.Version)
	if err != nil {
		return fmt.Errorf("gdpr sqlstore: update incident: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetIncident(ctx, inc.ID); err != nil {
			return err
		}
		return fmt.Errorf("incident %s: %w", inc.ID, gdpr.ErrConflict)
	}
	inc.Version++
	return nil
}

// ListIncidents implements gdpr.IncidentStore.
func (s *Store) ListIncidents(ctx context.Context, f gdpr.IncidentFilter) ([]*gdpr.Incident, error) {
	q, args := "SELECT body FROM gdpr_incidents WHERE 1 = 1", []any{}
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if !f.NotifyByBefore.IsZero() {
		q += " AND notify_by < ?"
		args = append(args, sqldb.Timestamp(f.NotifyByBefore))
	}
	return queryBodies(ctx, s, q+" ORDER BY notify_by, id", args, decodeIncident)
}

// queryBodies runs a query of JSON bodies and decodes each row's.
func queryBodies[T any](ctx context.Context, s *Store, query string, args []any, decode func(string) (T, error)) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		v, err := decode(body)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
