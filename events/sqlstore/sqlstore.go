// Package sqlstore keeps the events outbox and consumer inboxes in
// SQLite or PostgreSQL, in the tables events_outbox, events_aggregates,
// events_lanes and events_inbox.
//
//	st, err := sqlstore.New(db) // *sql.DB from modernc.org/sqlite or pgx's stdlib
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	err = sqldb-or-your-own-tx(func(tx *sql.Tx) error {
//		// ... the business change ...
//		return st.AppendTx(ctx, tx, &events.Event{TenantID: "acme", Type: "user.created", ...})
//	})
//
// # Transactional outbox
//
// AppendTx writes events in the application's transaction, so they are
// relayed if and only if the change commits. Each event takes the next
// position of its aggregate from events_aggregates, whose row the
// transaction then holds: two transactions writing one aggregate take
// turns, so positions follow commit order.
//
// # Relaying
//
// Claim leases one of events.Lanes lanes with a token in events_lanes
// (on PostgreSQL with FOR UPDATE SKIP LOCKED, so relays in many
// processes never wait on each other) and reads its oldest unrelayed
// events; Complete records what the broker accepted and releases the
// lane. A lane keeps a watermark: when a batch goes out in order, as it
// nearly always does, Complete moves the watermark past it in one
// update instead of marking each event. On PostgreSQL a transaction can
// commit an event behind one with a higher position, so the watermark
// covers only events whose transaction had ended when the batch was
// claimed (by transaction ID, pg_current_xact_id); an event committed
// behind it is found by its transaction ID and marked on its own.
// Relayed events stay until Expire deletes them.
//
// # Inbox
//
// Process (events.Inbox) records per consumer, tenant and aggregate the
// position last handled, in the same transaction as the handler's
// writes (events.Tx), so a handler's effects commit exactly once.
//
// # Erasure
//
// Source (gdpr.Source) deletes a data subject's relayed events, found
// by tenant and SubjectKey; events not yet relayed stay so that
// consumers still receive them, and its note counts them.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Store is an events.Store and events.Inbox over one database.
type Store struct {
	db *sqldb.DB
}

var (
	_ events.Store = (*Store)(nil)
	_ events.Inbox = (*Store)(nil)
)

// New returns a Store over db, which must come from modernc.org/sqlite or
// github.com/jackc/pgx/v5/stdlib. Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("events sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the tables. It is idempotent and safe to
// run from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "events", migrations, "migrations"); err != nil {
		return fmt.Errorf("events sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

// Append implements events.Store: AppendTx in a transaction of its own.
func (s *Store) Append(ctx context.Context, evs ...*events.Event) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error { return s.AppendTx(ctx, tx, evs...) })
}

// AppendTx writes evs in tx, the application's transaction: they are
// relayed once tx commits, and never if it rolls back.
func (s *Store) AppendTx(ctx context.Context, tx *sql.Tx, evs ...*events.Event) error {
	now := time.Now()
	for _, e := range evs {
		if err := events.Prepare(ctx, e, now); err != nil {
			return err
		}
	}
	next := s.q(`INSERT INTO events_aggregates (tenant_id, aggregate_key, seq) VALUES (?, ?, 1)
		ON CONFLICT (tenant_id, aggregate_key) DO UPDATE SET seq = events_aggregates.seq + 1 RETURNING seq`)
	insert := s.q(`INSERT INTO events_outbox (id, tenant_id, event_type, version, aggregate_key, aggregate_seq, subject_key, trace, payload, occurred_at, lane)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	for _, e := range evs {
		var seq int64
		if err := tx.QueryRowContext(ctx, next, e.TenantID, e.AggregateKey).Scan(&seq); err != nil {
			return fmt.Errorf("events sqlstore: append %s: next position of aggregate: %w", e.ID, err)
		}
		trace, err := json.Marshal(e.Trace)
		if err != nil {
			return fmt.Errorf("events sqlstore: append %s: trace: %w", e.ID, err)
		}
		if e.Trace == nil {
			trace = []byte("{}")
		}
		payload := e.Payload
		if payload == nil {
			payload = []byte{}
		}
		if _, err := tx.ExecContext(ctx, insert, e.ID, e.TenantID, e.Type, e.Version, e.AggregateKey, seq, e.SubjectKey,
			string(trace), payload, sqldb.Timestamp(e.OccurredAt), events.Lane(e.TenantID, e.AggregateKey)); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return fmt.Errorf("events sqlstore: append %s: an event with this ID exists: %w", e.ID, events.ErrInvalid)
			}
			return fmt.Errorf("events sqlstore: append %s: %w", e.ID, err)
		}
		e.AggregateSeq = seq
	}
	return nil
}

// Process implements events.Inbox: h runs in the transaction that
// records e, available to it as events.Tx(ctx).
func (s *Store) Process(ctx context.Context, consumer string, e *events.Event, h events.Handler) (events.Outcome, error) {
	if h == nil {
		return s.record(ctx, consumer, e)
	}
	agg, seq := events.InboxKey(e)
	var out events.Outcome
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE events_inbox SET seq = ? WHERE consumer = ? AND tenant_id = ? AND aggregate_key = ? AND seq = ?`),
			seq, consumer, e.TenantID, agg, seq-1)
		if err != nil {
			return err
		}
		claimed, _ := res.RowsAffected()
		if claimed == 0 && seq == 1 {
			res, err = tx.ExecContext(ctx, s.q(`INSERT INTO events_inbox (consumer, tenant_id, aggregate_key, seq) VALUES (?, ?, ?, 1)
				ON CONFLICT (consumer, tenant_id, aggregate_key) DO NOTHING`), consumer, e.TenantID, agg)
			if err != nil {
				return err
			}
			claimed, _ = res.RowsAffected()
		}
		if claimed == 0 {
			var last int64
			err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM events_inbox WHERE consumer = ? AND tenant_id = ? AND aggregate_key = ?`),
				consumer, e.TenantID, agg).Scan(&last)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			out = events.Early
			if err == nil && last >= seq {
				out = events.Duplicate
			}
			return nil
		}
		if err := h(events.WithTx(ctx, tx), e); err != nil {
			return &handlerError{err}
		}
		out = events.Handled
		return nil
	})
	if err != nil {
		var he *handlerError
		if errors.As(err, &he) {
			return 0, he.err
		}
		return 0, fmt.Errorf("events sqlstore: process %s for %s: %w", e.ID, consumer, err)
	}
	return out, nil
}

// record is Process without a handler: it moves consumer's position in
// e's aggregate up to e's, over any gap.
func (s *Store) record(ctx context.Context, consumer string, e *events.Event) (events.Outcome, error) {
	agg, seq := events.InboxKey(e)
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO events_inbox (consumer, tenant_id, aggregate_key, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (consumer, tenant_id, aggregate_key) DO UPDATE SET seq = excluded.seq WHERE events_inbox.seq < excluded.seq`),
		consumer, e.TenantID, agg, seq)
	if err != nil {
		return 0, fmt.Errorf("events sqlstore: record %s for %s: %w", e.ID, consumer, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return events.Duplicate, nil
	}
	return events.Handled, nil
}

// handlerError carries a handler's error out of InTx unwrapped.
type handlerError struct{ err error }

func (h *handlerError) Error() string { return h.err.Error() }
