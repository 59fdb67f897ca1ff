package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// relayedSQL holds for an outbox row o, joined to its lane l, that the
// broker has: marked on its own, or under the lane's watermark and
// written by a transaction that had ended when the watermark was set.
const relayedSQL = `(o.relayed_at IS NOT NULL OR (o.seq <= l.relayed_seq AND o.xid < l.relayed_xmin))`

// lateSQL holds for a lane l that it has events committed behind its
// watermark and not relayed yet. It looks through the index on (lane,
// xid), which finds none at once; "seq + 0" keeps PostgreSQL from
// walking the primary key instead, from the first event of the outbox
// up to the watermark.
const lateSQL = `EXISTS (SELECT 1 FROM events_outbox o WHERE o.lane = l.lane AND o.xid >= l.relayed_xmin AND o.seq + 0 <= l.relayed_seq AND o.relayed_at IS NULL)`

// cursor is where a claimed batch lies in its lane (events.Batch.Cursor).
type cursor struct {
	// late: the batch holds events committed behind the watermark, and
	// only those; Complete marks them one by one.
	late bool
	// xmin: every transaction with a lower ID had ended when the batch
	// was claimed, so none can still commit an event into the lane
	// below the batch.
	xmin int64
	seqs []int64 // the position of each event of the batch
	xids []int64 // the transaction that wrote each event
}

// xmin returns a transaction ID below which every transaction has
// ended. On SQLite, which commits one writer at a time and writes xid
// 0, it is 1: every visible row is final.
//
// On PostgreSQL it also turns JIT compilation off for the rest of the
// transaction: the lane query's cost, estimated before the tables have
// statistics, can pass jit_above_cost, and compiling it then takes tens
// of milliseconds for a query that runs in one.
func (s *Store) xmin(ctx context.Context, tx *sql.Tx) (int64, error) {
	if s.db.Dialect != sqldb.Postgres {
		return 1, nil
	}
	var x int64
	err := tx.QueryRowContext(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, set_config('jit', 'off', true)`).Scan(&x, new(string))
	return x, err
}

// Claim implements events.Store. A batch holds either the lane's events
// committed behind its watermark or its next events past the
// watermark, in the order they were written.
func (s *Store) Claim(ctx context.Context, now time.Time, leaseFor time.Duration, max int) (*events.Batch, error) {
	var b *events.Batch
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Read before the events, so that every transaction below xmin
		// has ended before they are read.
		xmin, err := s.xmin(ctx, tx)
		if err != nil {
			return err
		}
		now := sqldb.Timestamp(now)
		var lane int
		var mark, markXmin int64
		var late bool // the lane has events committed behind its watermark
		err = tx.QueryRowContext(ctx, s.q(`SELECT l.lane, l.relayed_seq, l.relayed_xmin, `+lateSQL+` FROM events_lanes l
			WHERE l.lease_until <= ? AND (
				EXISTS (SELECT 1 FROM events_outbox o WHERE o.lane = l.lane AND o.seq > l.relayed_seq AND o.relayed_at IS NULL)
				OR `+lateSQL+`)
			ORDER BY l.lease_until, l.lane LIMIT 1`+s.db.Dialect.SkipLocked()), now).Scan(&lane, &mark, &markXmin, &late)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		tok := events.NewID()
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE events_lanes SET lease_token = ?, lease_until = ? WHERE lane = ?`),
			tok, now.Add(leaseFor), lane); err != nil {
			return err
		}
		const columns = `SELECT id, tenant_id, event_type, version, aggregate_key, aggregate_seq, subject_key, trace, payload, occurred_at, seq, xid FROM events_outbox `
		c := &cursor{late: late, xmin: xmin}
		var evs []*events.Event
		if late {
			evs, err = s.claimRows(ctx, tx, c, columns+`WHERE lane = ? AND xid >= ? AND seq <= ? AND relayed_at IS NULL ORDER BY seq LIMIT ?`,
				lane, markXmin, mark, max)
		}
		// Events committed behind the watermark since the lane was read
		// have a writer at or above xmin: the next claim finds them.
		if err == nil && len(evs) == 0 {
			c.late = false
			evs, err = s.claimRows(ctx, tx, c, columns+`WHERE lane = ? AND seq > ? AND relayed_at IS NULL ORDER BY seq LIMIT ?`,
				lane, mark, max)
		}
		if err != nil {
			return err
		}
		b = &events.Batch{Lane: lane, Token: tok, Events: evs, Cursor: c}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events sqlstore: claim: %w", err)
	}
	return b, nil
}

// claimRows reads a batch's events and notes their positions in c.
func (s *Store) claimRows(ctx context.Context, tx *sql.Tx, c *cursor, query string, args ...any) ([]*events.Event, error) {
	rows, err := tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*events.Event
	for rows.Next() {
		var e events.Event
		var trace string
		var seq, xid int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Type, &e.Version, &e.AggregateKey, &e.AggregateSeq, &e.SubjectKey,
			&trace, &e.Payload, &e.OccurredAt, &seq, &xid); err != nil {
			return nil, err
		}
		if trace != "" && trace != "{}" && trace != "null" {
			if err := json.Unmarshal([]byte(trace), &e.Trace); err != nil {
				return nil, fmt.Errorf("trace of event %s: %w", e.ID, err)
			}
		}
		e.OccurredAt = e.OccurredAt.UTC()
		out = append(out, &e)
		c.seqs = append(c.seqs, seq)
		c.xids = append(c.xids, xid)
	}
	return out, rows.Err()
}

// Complete implements events.Store. When the batch's leading events
// were relayed and b still holds its lease, the lane's watermark moves
// past them in the update that releases the lane; the other relayed
// events are marked one by one (idempotently, whoever holds the lane).
func (s *Store) Complete(ctx context.Context, b *events.Batch, relayed []string, now time.Time) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := sqldb.Timestamp(now)
		marks := relayed
		c, ok := b.Cursor.(*cursor)
		if lead := leadingRelayed(b, relayed); ok && !c.late && len(c.seqs) == len(b.Events) && lead > 0 {
			covered, err := s.releaseAndMoveWatermark(ctx, tx, b, c, lead, now)
			if err != nil {
				return err
			}
			marks = marks[:0:0]
			for _, id := range relayed {
				if !covered[id] {
					marks = append(marks, id)
				}
			}
		} else if _, err := tx.ExecContext(ctx, s.q(`UPDATE events_lanes SET lease_token = NULL, lease_until = ? WHERE lane = ? AND lease_token = ?`),
			now, b.Lane, b.Token); err != nil {
			return err
		}
		for len(marks) > 0 {
			chunk := marks[:min(len(marks), 500)]
			marks = marks[len(chunk):]
			// By ID alone, so that both engines find the rows through the
			// unique index on id.
			args := []any{now}
			for _, id := range chunk {
				args = append(args, id)
			}
			in := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE events_outbox SET relayed_at = COALESCE(relayed_at, ?) WHERE id IN (`+in+`)`), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events sqlstore: complete lane %d: %w", b.Lane, err)
	}
	return nil
}

// leadingRelayed returns how many of b's events, from the first, are
// among relayed.
func leadingRelayed(b *events.Batch, relayed []string) int {
	done := make(map[string]bool, len(relayed))
	for _, id := range relayed {
		done[id] = true
	}
	lead := 0
	for lead < len(b.Events) && done[b.Events[lead].ID] {
		lead++
	}
	return lead
}

// releaseAndMoveWatermark releases the lane, if b still holds it, and
// moves its watermark past the batch's lead leading events, unless it
// is already further. It returns the IDs the watermark then covers:
// those of the lead events written by a transaction below the claim's
// xmin. Every unrelayed event between the old watermark and the new one
// was in the batch, or was written by a transaction at or above xmin,
// which Claim finds by its xid later.
func (s *Store) releaseAndMoveWatermark(ctx context.Context, tx *sql.Tx, b *events.Batch, c *cursor, lead int, now time.Time) (map[string]bool, error) {
	seq := c.seqs[lead-1]
	var moved bool
	err := tx.QueryRowContext(ctx, s.q(`UPDATE events_lanes SET
			relayed_seq = CASE WHEN relayed_seq < ? AND relayed_xmin <= ? THEN ? ELSE relayed_seq END,
			relayed_xmin = CASE WHEN relayed_seq < ? AND relayed_xmin <= ? THEN ? ELSE relayed_xmin END,
			lease_token = NULL, lease_until = ?
		WHERE lane = ? AND lease_token = ?
		RETURNING relayed_seq = ? AND relayed_xmin = ?`),
		seq, c.xmin, seq, seq, c.xmin, c.xmin, now, b.Lane, b.Token, seq, c.xmin).Scan(&moved)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if !moved { // the lease is gone, or the watermark is past: every event is marked on its own
		return nil, nil
	}
	covered := make(map[string]bool, lead)
	for i, e := range b.Events[:lead] {
		if c.xids[i] < c.xmin {
			covered[e.ID] = true
		}
	}
	return covered, nil
}

// Expire deletes up to limit relayed events and returns how many it
// deleted: those marked relayed before cutoff, and those under their
// lane's watermark written before cutoff.
func (s *Store) Expire(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	at := sqldb.Timestamp(cutoff)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM events_outbox WHERE seq IN (
		SELECT o.seq FROM events_outbox o JOIN events_lanes l ON l.lane = o.lane
		WHERE `+relayedSQL+` AND (o.relayed_at < ? OR (o.relayed_at IS NULL AND o.occurred_at < ?))
		ORDER BY o.seq LIMIT ?)`), at, at, limit)
	if err != nil {
		return 0, fmt.Errorf("events sqlstore: expire: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Pending returns how many events wait to be relayed.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM events_lanes l JOIN events_outbox o ON o.lane = l.lane AND o.seq > l.relayed_seq WHERE o.relayed_at IS NULL) +
		(SELECT COUNT(*) FROM events_lanes l JOIN events_outbox o ON o.lane = l.lane AND o.seq <= l.relayed_seq AND o.xid >= l.relayed_xmin WHERE o.relayed_at IS NULL)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("events sqlstore: pending: %w", err)
	}
	return int(n), nil
}
