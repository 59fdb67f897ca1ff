package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

var _ webhook.RateLimiter = (*Store)(nil)

// Reserve implements webhook.RateLimiter with the generic cell rate
// algorithm over the table webhook_rate_limits, which keeps, per
// endpoint, when its next free slot begins (the theoretical arrival
// time). One upsert books a slot: the later of that time and now, if it
// is within maxWait, moving the time on by 1/perSecond. Every process
// sharing the database books from the same schedule, so together they
// keep the endpoint's limit; their clocks should agree to well within
// 1/perSecond.
func (s *Store) Reserve(ctx context.Context, endpointID string, perSecond float64, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	if !(perSecond > 0) {
		return 0, true, nil
	}
	// Microseconds between slots, rounded up so as never to exceed the
	// limit, and at most the interval of webhook.MinRateLimit.
	interval := int64(math.Ceil(1e6 / max(perSecond, webhook.MinRateLimit)))
	at, limit := now.UnixMicro(), now.Add(maxWait).UnixMicro()
	greatest := "GREATEST"
	if s.db.Dialect == sqldb.SQLite {
		greatest = "MAX"
	}
	var next int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO webhook_rate_limits (endpoint_id, tat) VALUES (?, ?)
		ON CONFLICT (endpoint_id) DO UPDATE SET tat = `+greatest+`(webhook_rate_limits.tat, ?) + ?
		WHERE `+greatest+`(webhook_rate_limits.tat, ?) <= ?
		RETURNING tat`), endpointID, at+interval, at, interval, at, limit).Scan(&next)
	switch {
	case err == nil:
		return micros(next - interval - at), true, nil
	case errors.Is(err, sql.ErrNoRows): // booked too far ahead: no slot taken
		if err := s.db.QueryRowContext(ctx, s.q("SELECT tat FROM webhook_rate_limits WHERE endpoint_id = ?"), endpointID).Scan(&next); err != nil {
			return 0, false, fmt.Errorf("rate limit of endpoint %s: %w", endpointID, err)
		}
		return micros(next - at), false, nil
	}
	return 0, false, fmt.Errorf("rate limit of endpoint %s: %w", endpointID, err)
}

// micros is n microseconds, or 0 if n is negative.
func micros(n int64) time.Duration { return time.Duration(max(n, 0)) * time.Microsecond }
