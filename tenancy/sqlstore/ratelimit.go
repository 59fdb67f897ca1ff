package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/gcra"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/tenancy"
)

var _ tenancy.LimitStore = (*Store)(nil)

const (
	// sweepEvery is how often Take sweeps idle buckets, by the time it
	// is given, while the last sweep found fewer than sweepBatch.
	sweepEvery = time.Minute
	// sweepBatch bounds the rows one sweep deletes.
	sweepBatch = 1000
)

// Take implements tenancy.LimitStore with the generic cell rate algorithm
// over the table tenancy_rate_limits, which keeps, per key, the
// theoretical arrival time of its next token. One upsert takes a token:
// it moves that time on by 1/Rate if it is at most Burst-1 intervals
// ahead of now; a refused take writes nothing and reads the time to
// report the wait. Every replica sharing the database takes from the same
// buckets; their clocks should agree to well within 1/Rate. Times are
// kept in whole microseconds (a rate above a million a second counts as
// a million).
//
// Rows of idle keys do not pile up: a bucket whose time has passed is
// full, the same as no row, and Take deletes such rows, up to 1,000 at
// a time, once a minute (by now) and again at once while a sweep finds a
// full batch. ExpireRateLimits does the same on demand.
func (s *Store) Take(ctx context.Context, key string, limit tenancy.Limit, now time.Time) (bool, time.Duration, error) {
	p, err := gcra.Of(limit.Rate, limit.Burst)
	if err != nil {
		return false, 0, fmt.Errorf("tenancy sqlstore: %w: %w", tenancy.ErrInvalid, err)
	}
	at := now.UnixMicro()
	s.sweepSometimes(ctx, now, at)
	greatest := "GREATEST"
	if s.db.Dialect == sqldb.SQLite {
		greatest = "MAX"
	}
	k := []byte(key)
	var tat int64
	err = s.db.QueryRowContext(ctx, s.q(`INSERT INTO tenancy_rate_limits (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = `+greatest+`(tenancy_rate_limits.tat, ?) + ?
		WHERE tenancy_rate_limits.tat <= ?
		RETURNING tat`), k, at+p.Interval, at, p.Interval, at+p.Tolerance).Scan(&tat)
	switch {
	case err == nil:
		return true, 0, nil
	case errors.Is(err, sql.ErrNoRows): // no token: nothing written
		err = s.db.QueryRowContext(ctx, s.q("SELECT tat FROM tenancy_rate_limits WHERE key = ?"), k).Scan(&tat)
		if errors.Is(err, sql.ErrNoRows) { // swept in between: its time had passed
			return false, 0, nil
		}
		if err != nil {
			return false, 0, fmt.Errorf("tenancy sqlstore: rate limit: %w", err)
		}
		return false, gcra.Duration(tat - at - p.Tolerance), nil
	}
	return false, 0, fmt.Errorf("tenancy sqlstore: rate limit: %w", err)
}

// sweepSometimes runs one sweep of idle buckets when one is due at now
// (at in microseconds), in the caller's goroutine. Its failure is left
// for the next sweep.
func (s *Store) sweepSometimes(ctx context.Context, now time.Time, at int64) {
	next := s.sweepAt.Load()
	if at < next || !s.sweepAt.CompareAndSwap(next, at+sweepEvery.Microseconds()) {
		return
	}
	if n, err := s.ExpireRateLimits(ctx, now, sweepBatch); err == nil && n == sweepBatch {
		s.sweepAt.Store(at) // more to do: sweep again on the next Take
	}
}

// ExpireRateLimits deletes up to batch rows (default 1,000 when batch <=
// 0) of rate-limit buckets that are full at now, whose keys have been
// idle long enough to refill, and returns how many it deleted. Take
// calls it by itself; call it from a job to clean up on a schedule of
// your own.
func (s *Store) ExpireRateLimits(ctx context.Context, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = sweepBatch
	}
	at := now.UnixMicro()
	// The outer condition is checked again on rows a concurrent Take
	// moved on after the subquery read them.
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tenancy_rate_limits WHERE tat < ? AND key IN
		(SELECT key FROM tenancy_rate_limits WHERE tat < ? ORDER BY tat LIMIT ?)`), at, at, batch)
	if err != nil {
		return 0, fmt.Errorf("tenancy sqlstore: expire rate limits: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("tenancy sqlstore: expire rate limits: %w", err)
	}
	return int(n), nil
}
