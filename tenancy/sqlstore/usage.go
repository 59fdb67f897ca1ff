package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/tenancy"
)

var _ tenancy.UsageStore = (*Store)(nil)

// AddUsage implements tenancy.UsageStore with one upsert on the table
// tenancy_usage: it adds n to the counter's row only while the row's
// count is at most max-n, and returns the new count. Replicas sharing
// the database add to the same rows; none of their adds is lost and
// none takes a counter over its max.
func (s *Store) AddUsage(ctx context.Context, key tenancy.UsageKey, n, max int64) (int64, bool, error) {
	if err := tenancy.CheckUsageAdd(key, n, max); err != nil {
		return 0, false, fmt.Errorf("add usage: %w", err)
	}
	if n > max { // cannot fit even in an empty counter
		total, err := s.Usage(ctx, key)
		return total, false, err
	}
	var total int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO tenancy_usage (tenant_id, metric, period, period_start, used)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, metric, period, period_start) DO UPDATE SET used = tenancy_usage.used + ?
		WHERE tenancy_usage.used <= ?
		RETURNING used`), key.TenantID, key.Metric, key.Period.String(), key.Start.Unix(), n, n, max-n).Scan(&total)
	switch {
	case err == nil:
		return total, true, nil
	case errors.Is(err, sql.ErrNoRows): // over max: nothing written
		total, err = s.Usage(ctx, key)
		return total, false, err
	}
	return 0, false, fmt.Errorf("tenancy sqlstore: add usage: %w", err)
}

// Usage implements tenancy.UsageStore.
func (s *Store) Usage(ctx context.Context, key tenancy.UsageKey) (int64, error) {
	if err := key.Check(); err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	var total int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT used FROM tenancy_usage
		WHERE tenant_id = ? AND metric = ? AND period = ? AND period_start = ?`),
		key.TenantID, key.Metric, key.Period.String(), key.Start.Unix()).Scan(&total)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tenancy sqlstore: usage: %w", err)
	}
	return total, nil
}
