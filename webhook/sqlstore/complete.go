package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

// Complete implements webhook.Queue. The UPDATE matches the lease token
// and the pending state; the attempt's row is written only if it
// matched, atomically with it: on PostgreSQL in one statement (the
// UPDATE in a CTE feeding the INSERT), on SQLite in one transaction.
func (s *Store) Complete(ctx context.Context, d *webhook.Delivery, a webhook.Attempt) error {
	var n int64
	var err error
	if s.db.Dialect == sqldb.Postgres || a.At.IsZero() {
		n, err = s.complete(ctx, s.db, d, a)
	} else {
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			n, err = s.complete(ctx, tx, d, a)
			return err
		})
	}
	return s.completed(ctx, d, n, err)
}

// CompleteBatch implements webhook.BatchQueue: the completions share one
// commit. On PostgreSQL they are one statement, as River's completer
// writes them: an UPDATE joined to the completions as arrays, feeding
// the INSERT of their attempt rows. On SQLite they share one
// transaction. A completion whose lease was lost fails alone, with
// ErrConflict; if the batch itself fails, each completion is retried on
// its own.
func (s *Store) CompleteBatch(ctx context.Context, cs []webhook.Completion) []error {
	ns := make([]int64, len(cs))
	var err error
	if s.db.Dialect == sqldb.Postgres {
		err = s.completeBatchPostgres(ctx, cs, ns)
	} else {
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			for i, c := range cs {
				n, err := s.complete(ctx, tx, c.Delivery, c.Attempt)
				if err != nil {
					return err
				}
				ns[i] = n
			}
			return nil
		})
	}
	errs := make([]error, len(cs))
	for i, c := range cs {
		if err != nil {
			errs[i] = s.Complete(ctx, c.Delivery, c.Attempt)
		} else {
			errs[i] = s.completed(ctx, c.Delivery, ns[i], nil)
		}
	}
	return errs
}

// completeBatchPostgres records the completions in one statement and
// sets ns[i] to 1 for each whose lease still held.
func (s *Store) completeBatchPostgres(ctx context.Context, cs []webhook.Completion, ns []int64) error {
	n := len(cs)
	var (
		ids, tokens, states, lastErrors, attemptErrors = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, statuses                             = make([]int32, n), make([]int32, n)
		nextAts, ats                                   = make([]time.Time, n), make([]time.Time, n)
		attempted                                      = make([]bool, n)
		latencies                                      = make([]int64, n)
		responses                                      = make([][]byte, n)
		sent, received                                 = make([]string, n), make([]string, n)
	)
	index := make(map[string]int, n)
	for i, c := range cs {
		d, a := c.Delivery, c.Attempt
		ids[i], tokens[i], states[i], lastErrors[i] = d.ID, d.LeaseToken, string(d.State), d.LastError
		attempts[i], nextAts[i] = int32(d.Attempts), sqldb.Timestamp(d.NextAt)
		attempted[i], ats[i], statuses[i], latencies[i], attemptErrors[i] = !a.At.IsZero(), sqldb.Timestamp(a.At), int32(a.Status), int64(a.Latency), a.Error
		if len(a.Response) > 0 {
			responses[i] = a.Response
		}
		sent[i], received[i] = encodeHeaders(a.RequestHeaders), encodeHeaders(a.ResponseHeaders)
		index[d.ID] = i
	}
	rows, err := s.db.QueryContext(ctx, completeBatchPostgres,
		ids, tokens, states, attempts, nextAts, lastErrors, attempted, ats, statuses, latencies, attemptErrors, responses, sent, received)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ns[index[id]] = 1
	}
	return rows.Err()
}

// completeBatchPostgres takes the completions as parallel arrays: the
// delivery's id, lease token, new state, attempts, next_at and
// last_error, whether an attempt was made, and the attempt's at,
// status, latency, error, response and headers sent and received. It
// returns the IDs of the deliveries whose lease held.
const completeBatchPostgres = `WITH c AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::timestamptz[], $6::text[],
		$7::boolean[], $8::timestamptz[], $9::integer[], $10::bigint[], $11::text[], $12::bytea[], $13::text[], $14::text[])
		AS c(id, lease_token, state, attempts, next_at, last_error, attempted, at, status, latency_ns, error, response, sent, received)
), u AS (
	UPDATE webhook_deliveries d SET state = c.state, attempts = c.attempts, next_at = c.next_at, last_error = c.last_error,
		lease_token = NULL, lease_until = NULL, updated_at = CASE WHEN c.attempted THEN c.at ELSE d.updated_at END
	FROM c WHERE d.id = c.id AND d.lease_token = c.lease_token AND d.state = 'pending'
	RETURNING d.id, d.tenant_id, d.endpoint_id
), logged AS (
	INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, at, status, latency_ns, error, response, request_headers, response_headers)
	SELECT c.id, u.tenant_id, u.endpoint_id, c.at, c.status, c.latency_ns, c.error, c.response, c.sent, c.received FROM u JOIN c ON c.id = u.id WHERE c.attempted
)
SELECT id FROM u`

// complete records one completion through q (the database, or a
// transaction on SQLite, where the UPDATE and the INSERT must share one)
// and returns the rows the UPDATE matched.
func (s *Store) complete(ctx context.Context, q sqldb.Querier, d *webhook.Delivery, a webhook.Attempt) (int64, error) {
	const where = " WHERE id = ? AND lease_token = ? AND state = 'pending'"
	set := "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_at = ?, last_error = ?, lease_token = NULL, lease_until = NULL"
	args := []any{string(d.State), d.Attempts, sqldb.Timestamp(d.NextAt), d.LastError}
	if !a.At.IsZero() {
		set += ", updated_at = ?"
		args = append(args, sqldb.Timestamp(a.At))
	}
	args = append(args, d.ID, d.LeaseToken)
	var response []byte
	if len(a.Response) > 0 {
		response = a.Response
	}
	switch {
	case a.At.IsZero(): // postponed: no attempt to log
		res, err := s.exec(ctx, q, s.q(set+where), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	case s.db.Dialect == sqldb.Postgres:
		return execN(ctx, q, s.q(`WITH u AS (`+set+where+` RETURNING tenant_id, endpoint_id)
			INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, at, status, latency_ns, error, response, request_headers, response_headers)
			SELECT ?::text, u.tenant_id, u.endpoint_id, ?::timestamptz, ?::integer, ?::bigint, ?::text, ?::bytea, ?::text, ?::text FROM u`),
			append(args, d.ID, sqldb.Timestamp(a.At), a.Status, int64(a.Latency), a.Error, response, encodeHeaders(a.RequestHeaders), encodeHeaders(a.ResponseHeaders))...)
	}
	rows, err := s.query(ctx, q, set+where+" RETURNING tenant_id, endpoint_id", args...)
	if err != nil {
		return 0, err
	}
	var tenantID, endpointID string
	found := rows.Next()
	if found {
		err = rows.Scan(&tenantID, &endpointID)
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil || !found {
		return 0, err
	}
	_, err = s.exec(ctx, q, `INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, at, status, latency_ns, error, response, request_headers, response_headers)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, tenantID, endpointID, sqldb.Timestamp(a.At), a.Status, int64(a.Latency), a.Error, response, encodeHeaders(a.RequestHeaders), encodeHeaders(a.ResponseHeaders))
	return 1, err
}

// completed turns a completion's outcome into Complete's error.
func (s *Store) completed(ctx context.Context, d *webhook.Delivery, n int64, err error) error {
	if err == nil && n == 0 {
		err = s.lostLease(ctx, d.ID)
	}
	if errors.Is(err, webhook.ErrConflict) || errors.Is(err, webhook.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("complete delivery %s: %w", d.ID, err)
	}
	return nil
}

// execN runs an Exec and returns the rows it affected.
func execN(ctx context.Context, q sqldb.Querier, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// lostLease explains a Complete that matched no row.
func (s *Store) lostLease(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, s.q("SELECT 1 FROM webhook_deliveries WHERE id = ?"), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delivery %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("delivery %s: lease lost: %w", id, webhook.ErrConflict)
}

// encodeHeaders is the text of an attempt's recorded headers: a JSON
// object, "{}" for none. It is written by hand, on every attempt's
// path, where encoding/json's reflection cost a fifth of a delivery;
// the names and values are valid UTF-8 (webhook.RecordedHeaders).
func encodeHeaders(h map[string]string) string {
	if len(h) == 0 {
		return "{}"
	}
	n := 2
	for k, v := range h {
		n += len(k) + len(v) + 6
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for k, v := range h {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, the rest (valid UTF-8) as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// decodeHeaders reads recorded headers; "{}" is nil.
func decodeHeaders(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var h map[string]string
	err := json.Unmarshal([]byte(s), &h)
	return h, err
}
