package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/webhook"
)

// Deliveries implements webhook.Queue: ordered by ID, after f.AfterID.
func (s *Store) Deliveries(ctx context.Context, tenantID string, f webhook.DeliveryFilter) ([]*webhook.Delivery, error) {
	if !textfield.Storable(f.AfterID, f.EndpointID, f.MessageID) {
		return nil, fmt.Errorf("%w: delivery filter: after, endpoint and message must be valid UTF-8 without NUL", webhook.ErrInvalid)
	}
	if !textfield.Storable(tenantID) {
		return nil, nil
	}
	query, args := deliveriesQuery(tenantID, f)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// deliveriesQuery is the query of Deliveries: a walk of the index for
// f's filter, (tenant_id, id), (endpoint_id, id), (tenant_id,
// message_id, id) or the dead deliveries' (tenant_id, id), from the
// page's start.
func deliveriesQuery(tenantID string, f webhook.DeliveryFilter) (string, []any) {
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d
		JOIN webhook_messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id
		WHERE d.tenant_id = ? AND d.id > ?`
	args := []any{tenantID, f.AfterID}
	if f.EndpointID != "" {
		query += " AND d.endpoint_id = ?"
		args = append(args, f.EndpointID)
	}
	if f.MessageID != "" {
		query += " AND d.message_id = ?"
		args = append(args, f.MessageID)
	}
	if f.State != "" {
		query += " AND d.state = ?"
		args = append(args, string(f.State))
	}
	if !f.Since.IsZero() {
		query += " AND d.updated_at >= ?"
		args = append(args, sqldb.Timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		query += " AND d.updated_at < ?"
		args = append(args, sqldb.Timestamp(f.Until))
	}
	query += " ORDER BY d.id LIMIT ?"
	return query, append(args, f.EffectiveLimit())
}

// Requeue implements webhook.Queue.
func (s *Store) Requeue(ctx context.Context, tenantID, deliveryID string, at time.Time) error {
	if !textfield.Storable(tenantID, deliveryID) {
		return fmt.Errorf("delivery %q: %w", deliveryID, webhook.ErrNotFound)
	}
	at = sqldb.Timestamp(at)
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET state = 'pending', next_at = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND state = 'dead'`), at, at, tenantID, deliveryID)
	if err != nil {
		return fmt.Errorf("requeue delivery %s: %w", deliveryID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("requeue delivery %s: %w", deliveryID, err)
	} else if n > 0 {
		return nil
	}
	var state string
	err = s.db.QueryRowContext(ctx, s.q("SELECT state FROM webhook_deliveries WHERE tenant_id = ? AND id = ?"), tenantID, deliveryID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delivery %s: %w", deliveryID, webhook.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("requeue delivery %s: %w", deliveryID, err)
	}
	return fmt.Errorf("delivery %s is %s, not dead: %w", deliveryID, state, webhook.ErrConflict)
}

// Attempts implements webhook.Queue.
func (s *Store) Attempts(ctx context.Context, tenantID, deliveryID string) ([]webhook.Attempt, error) {
	if !textfield.Storable(tenantID, deliveryID) {
		return nil, fmt.Errorf("delivery %q: %w", deliveryID, webhook.ErrNotFound)
	}
	var one int
	err := s.db.QueryRowContext(ctx, s.q("SELECT 1 FROM webhook_deliveries WHERE tenant_id = ? AND id = ?"), tenantID, deliveryID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delivery %s: %w", deliveryID, webhook.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, status, latency_ns, error, response, request_headers, response_headers FROM webhook_attempts
		WHERE tenant_id = ? AND delivery_id = ? ORDER BY id`), tenantID, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	defer rows.Close()
	var out []webhook.Attempt
	for rows.Next() {
		a := webhook.Attempt{DeliveryID: deliveryID}
		var (
			latency        int64
			sent, received string
		)
		if err := rows.Scan(&a.At, &a.Status, &latency, &a.Error, &a.Response, &sent, &received); err != nil {
			return nil, fmt.Errorf("list attempts: %w", err)
		}
		a.At, a.Latency = a.At.UTC(), time.Duration(latency)
		var err error
		if a.RequestHeaders, err = decodeHeaders(sent); err == nil {
			a.ResponseHeaders, err = decodeHeaders(received)
		}
		if err != nil {
			return nil, fmt.Errorf("list attempts of delivery %s: headers: %w", deliveryID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// Data subjects.

// SubjectMessages implements webhook.SubjectQueue.
func (s *Store) SubjectMessages(ctx context.Context, tenantID, subject string) ([]*webhook.Message, error) {
	if !textfield.Storable(tenantID, subject) {
		return nil, nil // no message can have it
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM webhook_messages
		WHERE tenant_id = ? AND subject = ? ORDER BY created_at, id`), tenantID, subject)
	if err != nil {
		return nil, fmt.Errorf("list subject messages: %w", err)
	}
	out, err := collectMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("list subject messages: %w", err)
	}
	return out, nil
}

// EraseSubject implements webhook.SubjectQueue. It deletes attempts,
// deliveries and messages explicitly, in one transaction, rather than
// rely on ON DELETE CASCADE, which SQLite applies only when foreign keys
// are on.
func (s *Store) EraseSubject(ctx context.Context, tenantID, subject string) (int, error) {
	if !textfield.Storable(tenantID, subject) {
		return 0, nil // no message can have it
	}
	var n int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		const messages = "SELECT id FROM webhook_messages WHERE tenant_id = ? AND subject = ?"
		const deliveries = "SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND message_id IN (" + messages + ")"
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM webhook_attempts WHERE tenant_id = ? AND delivery_id IN ("+deliveries+")"),
			tenantID, tenantID, tenantID, subject); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM webhook_deliveries WHERE tenant_id = ? AND message_id IN ("+messages+")"),
			tenantID, tenantID, subject); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM webhook_messages WHERE tenant_id = ? AND subject = ?"), tenantID, subject)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("erase subject: %w", err)
	}
	return int(n), nil
}

// Stats implements webhook.StatsQueue. The pending counts walk the
// partial index of pending deliveries by next_at, whose first entry is
// the oldest due one; the dead count walks the index of finished ones.
func (s *Store) Stats(ctx context.Context, now time.Time) (webhook.QueueStats, error) {
	var st webhook.QueueStats
	now = sqldb.Timestamp(now)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT
		(SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND next_at > ?),
		(SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ?),
		(SELECT count(*) FROM webhook_deliveries WHERE state = 'dead')`), now, now).
		Scan(&st.Scheduled, &st.Due, &st.Dead)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	if st.Due == 0 {
		return st, nil
	}
	err = s.db.QueryRowContext(ctx, `SELECT next_at FROM webhook_deliveries
		WHERE state = 'pending' ORDER BY next_at LIMIT 1`).Scan(&st.OldestDue)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	st.OldestDue = st.OldestDue.UTC()
	return st, nil
}

// AttemptHistory implements webhook.HistoryQueue. It reads the tenant's
// attempts in the window through the (tenant_id, at) index and sums them
// up in the database, so only one row per bucket comes back: each
// attempt's bucket is found by comparing its time with the buckets'
// starts (text comparison on SQLite, which keeps times as text), and the
// latency percentiles are ranks within each bucket (window functions,
// which both engines have).
func (s *Store) AttemptHistory(ctx context.Context, tenantID string, w webhook.AttemptWindow) ([]webhook.AttemptBucket, error) {
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("attempt history: %w", err)
	}
	out := w.EmptyBuckets()
	if !textfield.Storable(tenantID, w.EndpointID) {
		return out, nil // no attempt can have it
	}
	query, args := attemptHistoryQuery(tenantID, w)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("attempt history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i        int
			b        webhook.AttemptBucket
			p50, p95 int64
		)
		if err := rows.Scan(&i, &b.Attempts, &b.Succeeded, &p50, &p95); err != nil {
			return nil, fmt.Errorf("attempt history: %w", err)
		}
		if i < 0 || i >= len(out) {
			return nil, fmt.Errorf("attempt history: bucket %d of %d", i, len(out))
		}
		b.Start, b.LatencyP50, b.LatencyP95 = out[i].Start, time.Duration(p50), time.Duration(p95)
		out[i] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempt history: %w", err)
	}
	return out, nil
}

// attemptHistoryQuery returns the query of AttemptHistory and its
// arguments: one row per bucket with attempts (bucket, attempts,
// succeeded, p50, p95). It reads the window through the (tenant_id,
// at) index, or (endpoint_id, at) for one endpoint.
func attemptHistoryQuery(tenantID string, w webhook.AttemptWindow) (string, []any) {
	bucket, args := attemptBucket(w)
	filter := "tenant_id = ?"
	args = append(args, tenantID)
	if w.EndpointID != "" {
		filter += " AND endpoint_id = ?"
		args = append(args, w.EndpointID)
	}
	args = append(args, sqldb.Timestamp(w.Start), sqldb.Timestamp(w.BucketStart(w.Count)))
	return `WITH a AS (
			SELECT ` + bucket + ` AS bucket, error, latency_ns FROM webhook_attempts
			WHERE ` + filter + ` AND at >= ? AND at < ?
		), counted AS (
			SELECT bucket, count(*) AS attempts, sum(CASE WHEN error = '' THEN 1 ELSE 0 END) AS succeeded
			FROM a GROUP BY bucket
		), ranked AS (
			SELECT bucket, latency_ns, row_number() OVER (PARTITION BY bucket ORDER BY latency_ns) AS pos,
				count(*) OVER (PARTITION BY bucket) AS n
			FROM a WHERE latency_ns > 0
		), timed AS (
			SELECT bucket, max(CASE WHEN pos = (n * 50 + 99) / 100 THEN latency_ns END) AS p50,
				max(CASE WHEN pos = (n * 95 + 99) / 100 THEN latency_ns END) AS p95
			FROM ranked GROUP BY bucket
		)
		SELECT c.bucket, c.attempts, c.succeeded, coalesce(t.p50, 0), coalesce(t.p95, 0)
		FROM counted c LEFT JOIN timed t ON t.bucket = c.bucket`, args
}

// attemptBucket returns the SQL expression of an attempt's bucket in w,
// and its arguments: the bucket whose start is the last not after the
// attempt's time.
func attemptBucket(w webhook.AttemptWindow) (string, []any) {
	if w.Count == 1 {
		return "0", nil
	}
	var b strings.Builder
	args := make([]any, 0, w.Count+2)
	b.WriteString("CASE")
	for i := 1; i < w.Count; i++ {
		b.WriteString(" WHEN at < ? THEN " + strconv.Itoa(i-1))
		args = append(args, sqldb.Timestamp(w.BucketStart(i)))
	}
	b.WriteString(" ELSE " + strconv.Itoa(w.Count-1) + " END")
	return b.String(), args
}
