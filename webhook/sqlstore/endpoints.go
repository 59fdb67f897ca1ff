package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/webhook"
)

const endpointColumns = "id, tenant_id, url, event_types, secrets, previous_secrets_until, headers, auth, rate_limit, ordered, api_version, disabled_reason, failing_since, metadata, created_at, updated_at, version, channels"

// endpointJSON are the JSON columns of an endpoint.
type endpointJSON struct{ eventTypes, channels, secrets, headers, metadata string }

// encodeEndpoint returns the JSON columns of e. Empty lists and maps are
// stored as [] and {} and read back as nil.
func encodeEndpoint(e *webhook.Endpoint) (endpointJSON, error) {
	var out endpointJSON
	for _, c := range []struct {
		name string
		v    any
		to   *string
	}{
		{"event types", orEmpty(e.EventTypes), &out.eventTypes},
		{"channels", orEmpty(e.Channels), &out.channels},
		{"secrets", orEmpty(e.Secrets), &out.secrets}, // base64 strings
		{"headers", orEmptyMap(e.Headers), &out.headers},
		{"metadata", orEmptyMap(e.Metadata), &out.metadata},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			return endpointJSON{}, fmt.Errorf("encode %s: %w", c.name, err)
		}
		*c.to = string(b)
	}
	return out, nil
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanEndpoint(row scanner) (*webhook.Endpoint, error) {
	var (
		e                    webhook.Endpoint
		et, ch, sc, hd, md   []byte
		failingSince, until  sql.NullTime
		createdAt, updatedAt time.Time
	)
	if err := row.Scan(&e.ID, &e.TenantID, &e.URL, &et, &sc, &until, &hd, &e.Auth, &e.RateLimit, &e.Ordered, &e.APIVersion, &e.DisabledReason,
		&failingSince, &md, &createdAt, &updatedAt, &e.Version, &ch); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(et, &e.EventTypes); err != nil {
		return nil, fmt.Errorf("decode event types of endpoint %s: %w", e.ID, err)
	}
	var err error
	if e.Channels, err = decodeChannels(ch); err != nil {
		return nil, fmt.Errorf("decode channels of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(sc, &e.Secrets); err != nil {
		return nil, fmt.Errorf("decode secrets of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(md, &e.Metadata); err != nil {
		return nil, fmt.Errorf("decode metadata of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(hd, &e.Headers); err != nil {
		return nil, fmt.Errorf("decode headers of endpoint %s: %w", e.ID, err)
	}
	if len(e.Headers) == 0 {
		e.Headers = nil
	}
	if len(e.Auth) == 0 {
		e.Auth = nil
	}
	if len(e.EventTypes) == 0 {
		e.EventTypes = nil
	}
	if len(e.Secrets) == 0 {
		e.Secrets = nil
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
	e.FailingSince, e.PreviousSecretsUntil = utcOrZero(failingSince), utcOrZero(until)
	e.CreatedAt, e.UpdatedAt = createdAt.UTC(), updatedAt.UTC()
	return &e, nil
}

// CreateEndpoint implements webhook.EndpointStore.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	if err := storableEndpoint(e); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	j, err := encodeEndpoint(e)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO webhook_endpoints ("+endpointColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"),
		e.ID, e.TenantID, e.URL, j.eventTypes, j.secrets, nullTime(e.PreviousSecretsUntil), j.headers, e.Auth, e.RateLimit, e.Ordered, e.APIVersion, e.DisabledReason,
		nullTime(e.FailingSince), j.metadata, sqldb.Timestamp(e.CreatedAt), sqldb.Timestamp(e.UpdatedAt), j.channels)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("endpoint %s: %w", e.ID, webhook.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	e.Version = 1
	return nil
}

// storableEndpoint refuses an endpoint whose text fields a database
// cannot hold.
func storableEndpoint(e *webhook.Endpoint) error {
	if !textfield.Storable(e.ID, e.TenantID, e.URL, e.APIVersion, e.DisabledReason) {
		return fmt.Errorf("%w: endpoint id, tenant, url, api version and disabled reason must be valid UTF-8 without NUL", webhook.ErrInvalid)
	}
	return nil
}

// GetEndpoint implements webhook.EndpointStore.
func (s *Store) GetEndpoint(ctx context.Context, tenantID, id string) (*webhook.Endpoint, error) {
	if !textfield.Storable(tenantID, id) {
		return nil, fmt.Errorf("endpoint %q: %w", id, webhook.ErrNotFound)
	}
	e, err := scanEndpoint(s.db.QueryRowContext(ctx, s.q("SELECT "+endpointColumns+" FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"), tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("endpoint %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

// ListEndpoints implements webhook.EndpointStore.
func (s *Store) ListEndpoints(ctx context.Context, tenantID string) ([]*webhook.Endpoint, error) {
	return s.listEndpoints(ctx, s.db, tenantID)
}

// ListEndpointsTx implements webhook.TxEndpointStore: the endpoints, read
// in tx.
func (s *Store) ListEndpointsTx(ctx context.Context, tx *sql.Tx, tenantID string) ([]*webhook.Endpoint, error) {
	if tx == nil {
		return nil, fmt.Errorf("%w: transaction is required", webhook.ErrInvalid)
	}
	return s.listEndpoints(ctx, tx, tenantID)
}

func (s *Store) listEndpoints(ctx context.Context, q sqldb.Querier, tenantID string) ([]*webhook.Endpoint, error) {
	rows, err := q.QueryContext(ctx, s.q("SELECT "+endpointColumns+" FROM webhook_endpoints WHERE tenant_id = ? ORDER BY created_at, id"), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	var out []*webhook.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint implements webhook.EndpointStore. CreatedAt is kept.
func (s *Store) UpdateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	if !textfield.Storable(e.TenantID, e.ID) {
		return fmt.Errorf("endpoint %q: %w", e.ID, webhook.ErrNotFound)
	}
	if err := storableEndpoint(e); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	j, err := encodeEndpoint(e)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE webhook_endpoints SET url = ?, event_types = ?, secrets = ?, previous_secrets_until = ?, headers = ?, auth = ?,
		rate_limit = ?, ordered = ?, api_version = ?, disabled_reason = ?, failing_since = ?, metadata = ?, channels = ?, updated_at = ?, version = version + 1
		WHERE tenant_id = ? AND id = ? AND version = ?`),
		e.URL, j.eventTypes, j.secrets, nullTime(e.PreviousSecretsUntil), j.headers, e.Auth, e.RateLimit, e.Ordered, e.APIVersion, e.DisabledReason, nullTime(e.FailingSince), j.metadata,
		j.channels, sqldb.Timestamp(e.UpdatedAt), e.TenantID, e.ID, e.Version)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	} else if n == 0 {
		if _, err := s.GetEndpoint(ctx, e.TenantID, e.ID); err != nil {
			return err
		}
		return fmt.Errorf("endpoint %s version %d is stale: %w", e.ID, e.Version, webhook.ErrConflict)
	}
	e.Version++
	return nil
}

// DeleteEndpoint implements webhook.EndpointStore. The endpoint's
// deliveries stay; workers let the pending ones die.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	if !textfield.Storable(tenantID, id) {
		return fmt.Errorf("endpoint %q: %w", id, webhook.ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"), tenantID, id)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	} else if n == 0 {
		return fmt.Errorf("endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return nil
}
