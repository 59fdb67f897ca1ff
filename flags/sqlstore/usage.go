package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/sqldb"
)

var _ flags.UsageStore = (*Store)(nil)

// AddUsage implements flags.UsageStore: each record's evaluations are
// added to its (flag, variant, day) row in one transaction, so replicas
// flushing at once add up.
func (s *Store) AddUsage(ctx context.Context, records []flags.UsageRecord) error {
	latest := "MAX(flags_usage.last_at, excluded.last_at)"
	if s.db.Dialect == sqldb.Postgres {
		latest = "GREATEST(flags_usage.last_at, excluded.last_at)"
	}
	query := s.db.Dialect.Rebind(`INSERT INTO flags_usage (flag, variant, day, evaluations, last_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (flag, variant, day) DO UPDATE SET evaluations = flags_usage.evaluations + excluded.evaluations, last_at = ` + latest)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range records {
			if _, err := tx.ExecContext(ctx, query, r.Flag, r.Variant, sqldb.Timestamp(r.Day.UTC().Truncate(24*time.Hour)), r.Evaluations, sqldb.Timestamp(r.Last)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("flags sqlstore: add usage: %w", err)
	}
	return nil
}

// Usage implements flags.UsageStore: the records of the days from
// since's on, by flag, variant and day.
func (s *Store) Usage(ctx context.Context, since time.Time) ([]flags.UsageRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Dialect.Rebind(`SELECT flag, variant, day, evaluations, last_at FROM flags_usage
		WHERE day >= ? ORDER BY flag, variant, day`), sqldb.Timestamp(since.UTC().Truncate(24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("flags sqlstore: usage: %w", err)
	}
	defer rows.Close()
	var out []flags.UsageRecord
	for rows.Next() {
		var r flags.UsageRecord
		if err := rows.Scan(&r.Flag, &r.Variant, &r.Day, &r.Evaluations, &r.Last); err != nil {
			return nil, fmt.Errorf("flags sqlstore: usage: %w", err)
		}
		r.Day, r.Last = r.Day.UTC(), r.Last.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flags sqlstore: usage: %w", err)
	}
	return out, nil
}

// UsageStart is the day of the earliest usage record: when usage began
// to be recorded, as flags.StaleOptions.RecordedFrom wants it. Zero when
// there is none.
func (s *Store) UsageStart(ctx context.Context) (time.Time, error) {
	var day time.Time
	switch err := s.db.QueryRowContext(ctx, `SELECT day FROM flags_usage ORDER BY day LIMIT 1`).Scan(&day); {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("flags sqlstore: usage start: %w", err)
	}
	return day.UTC(), nil
}
