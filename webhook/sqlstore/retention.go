package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

var _ webhook.RetentionQueue = (*Store)(nil)

// retentionLockClass is the first key of the PostgreSQL advisory lock
// that Expire's transactions take, so that sweeps from several
// processes take turns, batch by batch, rather than race for the same
// rows.
var retentionLockClass = int32(hash32("saaskit.webhook.retention"))

// payloadCursor names the cursor of Expire's walk of succeeded
// deliveries in webhook_retention_cursors.
const payloadCursor = "payload"

// Expire implements webhook.RetentionQueue in two short transactions,
// each bounded by e.Batch, each reading through the partial index of
// finished deliveries (webhook_deliveries_finished), never the table:
//
//  1. Up to e.Batch expired deliveries are deleted with their attempts,
//     then those of their messages that have no delivery left. On
//     PostgreSQL the deliveries are locked FOR UPDATE as they are
//     found, so a RetryDead racing the sweep either comes first, and
//     the delivery stays, or finds it gone.
//  2. The succeeded deliveries that changed before e.Payload are walked
//     in order, up to e.Batch of them, from where the last walk stopped
//     (a cursor kept in webhook_retention_cursors); each message whose
//     deliveries have all succeeded before e.Payload loses its payload.
//     A message is so judged when its last delivery is walked, and
//     every walk starts where the previous one ended, so a sweep never
//     reads a delivery twice, however many payloads it has removed.
//
// On PostgreSQL each transaction first takes an advisory lock, so
// sweeps from several processes take turns; on SQLite the write
// transaction excludes every other writer.
func (s *Store) Expire(ctx context.Context, e webhook.Expiry) (webhook.ExpireResult, error) {
	if err := e.Validate(); err != nil {
		return webhook.ExpireResult{}, fmt.Errorf("expire: %w", err)
	}
	var res, payloads webhook.ExpireResult
	if !e.Succeeded.IsZero() || !e.Dead.IsZero() {
		err := s.retentionTx(ctx, func(tx *sql.Tx) (err error) {
			res, err = s.expireDeliveries(ctx, tx, e)
			return err
		})
		if err != nil {
			return webhook.ExpireResult{}, fmt.Errorf("expire deliveries: %w", err)
		}
	}
	if !e.Payload.IsZero() {
		err := s.retentionTx(ctx, func(tx *sql.Tx) (err error) {
			payloads, err = s.expirePayloads(ctx, tx, e)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("expire payloads: %w", err)
		}
	}
	res.Payloads, res.More = payloads.Payloads, res.More || payloads.More
	return res, nil
}

// retentionTx runs fn in a transaction that, on PostgreSQL, holds the
// retention lock.
func (s *Store) retentionTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if s.db.Dialect == sqldb.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, 0)", retentionLockClass); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		return fn(tx)
	})
}

// expireDeliveries deletes up to e.Batch expired deliveries, their
// attempts, and their messages that have no delivery left.
func (s *Store) expireDeliveries(ctx context.Context, tx *sql.Tx, e webhook.Expiry) (webhook.ExpireResult, error) {
	var (
		res      webhook.ExpireResult
		ids      []any
		messages [][2]string
		seen     = map[[2]string]bool{}
	)
	for _, r := range []struct {
		state  webhook.DeliveryState
		before time.Time
	}{{webhook.StateSucceeded, e.Succeeded}, {webhook.StateDead, e.Dead}} {
		if r.before.IsZero() || len(ids) == e.Batch {
			continue
		}
		query, args := expiredQuery(r.state, r.before, e.Batch-len(ids))
		if s.db.Dialect == sqldb.Postgres {
			query += " FOR UPDATE"
		}
		rows, err := tx.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return res, err
		}
		for rows.Next() {
			var id string
			var key [2]string
			if err := rows.Scan(&id, &key[0], &key[1]); err != nil {
				rows.Close()
				return res, err
			}
			ids = append(ids, id)
			if !seen[key] {
				seen[key] = true
				messages = append(messages, key)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
	}
	if len(ids) == 0 {
		return res, nil
	}
	var err error
	marks := placeholders(len(ids))
	if res.Attempts, err = execCount(ctx, tx, s.q("DELETE FROM webhook_attempts WHERE delivery_id IN ("+marks+")"), ids...); err != nil {
		return res, err
	}
	if res.Deliveries, err = execCount(ctx, tx, s.q("DELETE FROM webhook_deliveries WHERE id IN ("+marks+")"), ids...); err != nil {
		return res, err
	}
	query, args := deleteEmptyMessagesQuery(messages)
	if res.Messages, err = execCount(ctx, tx, s.q(query), args...); err != nil {
		return res, err
	}
	res.More = len(ids) == e.Batch
	return res, nil
}

// expiredQuery selects the id, tenant_id and message_id of up to limit
// deliveries in state that changed before `before`: a range of the
// finished index. On PostgreSQL Expire locks them FOR UPDATE, and a
// row changed meanwhile (a dead letter retried) is judged again as it
// is now.
func expiredQuery(state webhook.DeliveryState, before time.Time, limit int) (string, []any) {
	return `SELECT id, tenant_id, message_id FROM webhook_deliveries
		WHERE state <> 'pending' AND state = ? AND updated_at < ? LIMIT ?`, []any{string(state), sqldb.Timestamp(before), limit}
}

// sameMessage correlates webhook_deliveries with the webhook_messages
// row of an UPDATE or DELETE.
const sameMessage = "webhook_deliveries.tenant_id = webhook_messages.tenant_id AND webhook_deliveries.message_id = webhook_messages.id"

// deleteEmptyMessagesQuery deletes those of the messages (tenant, ID)
// that have no delivery.
func deleteEmptyMessagesQuery(messages [][2]string) (string, []any) {
	in, args := messageKeys(messages)
	return `DELETE FROM webhook_messages WHERE (tenant_id, id) IN (` + in + `)
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE ` + sameMessage + `)`, args
}

// expirePayloads walks up to e.Batch succeeded deliveries from the
// cursor and removes the payloads of their messages that e expires.
func (s *Store) expirePayloads(ctx context.Context, tx *sql.Tx, e webhook.Expiry) (webhook.ExpireResult, error) {
	var res webhook.ExpireResult
	var at time.Time
	var seq int64
	err := tx.QueryRowContext(ctx, s.q("SELECT updated_at, seq FROM webhook_retention_cursors WHERE name = ?"), payloadCursor).Scan(&at, &seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, err
	}
	query, args := succeededAfterQuery(at, seq, e)
	rows, err := tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return res, err
	}
	var (
		walked   int
		messages [][2]string
		seen     = map[[2]string]bool{}
	)
	for rows.Next() {
		var key [2]string
		if err := rows.Scan(&seq, &at, &key[0], &key[1]); err != nil {
			rows.Close()
			return res, err
		}
		walked++
		if !seen[key] {
			seen[key] = true
			messages = append(messages, key)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || walked == 0 {
		return res, err
	}
	query, args = expungeQuery(messages, e.Payload)
	if res.Payloads, err = execCount(ctx, tx, s.q(query), args...); err != nil {
		return res, err
	}
	_, err = tx.ExecContext(ctx, s.db.Dialect.Upsert("webhook_retention_cursors", []string{"name"}, []string{"name", "updated_at", "seq"}),
		payloadCursor, sqldb.Timestamp(at), seq)
	res.More = walked == e.Batch
	return res, err
}

// succeededAfterQuery selects the seq, updated_at, tenant_id and
// message_id of the first e.Batch succeeded deliveries after the cursor
// (at, seq) that changed before e.Payload, in the finished index's
// order.
func succeededAfterQuery(at time.Time, seq int64, e webhook.Expiry) (string, []any) {
	return `SELECT seq, updated_at, tenant_id, message_id FROM webhook_deliveries
		WHERE state <> 'pending' AND state = 'succeeded' AND (updated_at, seq) > (?, ?) AND updated_at < ?
		ORDER BY updated_at, seq LIMIT ?`, []any{sqldb.Timestamp(at), seq, sqldb.Timestamp(e.Payload), e.Batch}
}

// expungeQuery empties the payload of those of the messages (tenant,
// ID) that still have one and whose deliveries all succeeded before
// cutoff.
func expungeQuery(messages [][2]string, cutoff time.Time) (string, []any) {
	in, keys := messageKeys(messages)
	args := append([]any{[]byte{}}, keys...)
	return `UPDATE webhook_messages SET payload = ? WHERE (tenant_id, id) IN (` + in + `) AND length(payload) > 0
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE ` + sameMessage + `
			AND (webhook_deliveries.state <> 'succeeded' OR webhook_deliveries.updated_at >= ?))`,
		append(args, sqldb.Timestamp(cutoff))
}

// messageKeys returns a VALUES list of the messages' (tenant, ID) pairs
// and its arguments.
func messageKeys(messages [][2]string) (string, []any) {
	args := make([]any, 0, 2*len(messages))
	for _, m := range messages {
		args = append(args, m[0], m[1])
	}
	return "VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(messages)), ", "), args
}

// placeholders returns n comma-separated placeholders.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// execCount runs an Exec and returns how many rows it affected.
func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	n, err := execN(ctx, tx, query, args...)
	return int(n), err
}
