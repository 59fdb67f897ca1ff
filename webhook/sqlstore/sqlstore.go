// Package sqlstore keeps webhook endpoints and the delivery queue in
// SQLite (embedded, the default) or PostgreSQL (many workers on many
// machines), in the tables webhook_endpoints, webhook_messages,
// webhook_deliveries and webhook_attempts.
//
//	st, err := sqlstore.New(db) // a *sql.DB from modernc.org/sqlite or pgx's stdlib
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	d, err := webhook.NewDispatcher(st, st, seal, webhook.DispatcherOptions{})
//
// # Transactional outbox
//
// EnqueueTx writes a message and its deliveries inside the caller's
// transaction, so they commit or roll back with the business change
// made in it; Dispatcher.SendTx uses it. Enqueue is EnqueueTx in a
// transaction of its own.
//
// EnqueueManyTx writes many messages in a few multi-row INSERTs, and on
// PostgreSQL every transaction that queues deliveries sends one
// notification as it commits: Listen (one pooled connection per worker
// process) wakes the workers of every process at once.
//
// # Claiming
//
// Claim leases due deliveries in one statement or transaction. On
// PostgreSQL it locks the rows it takes with FOR UPDATE SKIP LOCKED, so
// any number of workers in any number of processes share the queue and
// never take the same delivery; on SQLite the write transaction excludes
// every other writer.
//
// A claim visits each endpoint that has pending deliveries and takes its
// longest-due ones from an index ordered by due time, so its cost
// follows the number of such endpoints, not the length of the backlog: a
// failing endpoint's thousands of deliveries waiting out their backoff,
// or a flood of due ones, cost a claim the same as a handful.
//
// # Retention
//
// Expire (webhook.RetentionQueue) finds finished deliveries by state and
// age in a partial index that pending deliveries stay out of, so
// enqueues and retries never write to it, and deletes up to a batch of
// them per transaction, with their attempts and the messages left
// without a delivery; it removes expired payloads by walking succeeded
// deliveries from a cursor kept in webhook_retention_cursors. Freed
// pages are reused: under steady load with retention running, the
// tables and a SQLite file stay the same size. On PostgreSQL, sweeps
// from several processes take turns through an advisory lock.
//
// # Shared by replicas
//
// Reserve (webhook.RateLimiter) books each rate-limited endpoint's
// deliveries from one schedule in webhook_rate_limits, and Seen returns
// the receivers' replay protection (webhook.SeenStore) in webhook_seen,
// which deletes the ids whose time is up as it goes. Each is one upsert.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

//go:embed migrations
var migrations embed.FS

// Store implements webhook.EndpointStore and webhook.Queue over one
// database, with the optional webhook.TxQueue, SubjectQueue, StatsQueue,
// BatchQueue, HistoryQueue and RetentionQueue, and webhook.RateLimiter.
type Store struct {
	db    *sqldb.DB
	stmts statements
}

var (
	_ webhook.EndpointStore = (*Store)(nil)
	_ webhook.Queue         = (*Store)(nil)
	_ webhook.TxQueue       = (*Store)(nil)
	_ webhook.SubjectQueue  = (*Store)(nil)
	_ webhook.StatsQueue    = (*Store)(nil)
	_ webhook.BatchQueue    = (*Store)(nil)
	_ webhook.HistoryQueue  = (*Store)(nil)
	_ webhook.BulkQueue     = (*Store)(nil)
	_ webhook.BulkTxQueue   = (*Store)(nil)
	_ webhook.WakeQueue     = (*Store)(nil)
)

// New returns a Store over db, which must come from modernc.org/sqlite or
// github.com/jackc/pgx/v5/stdlib. Call Migrate before use. For SQLite,
// open db with sqldb's defaults (WAL, busy timeout, immediate
// transactions, foreign keys).
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("webhook sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the tables. It is idempotent and safe to
// run from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "webhook", migrations, "migrations"); err != nil {
		return fmt.Errorf("webhook sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

type scanner interface{ Scan(dest ...any) error }

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: sqldb.Timestamp(t), Valid: !t.IsZero()}
}

func utcOrZero(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
