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
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
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

// Endpoints.

const endpointColumns = "id, tenant_id, url, event_types, secrets, previous_secrets_until, headers, auth, rate_limit, ordered, api_version, disabled_reason, failing_since, metadata, created_at, updated_at, version, channels"

// endpointJSON are the JSON columns of an endpoint.
type endpointJSON struct{ eventTypes, channels, secrets, headers, metadata string }

// encodeEndpoint returns the JSON columns of e. Empty lists and maps are
// stored as [] and {} and read back as nil.
func encodeEndpoint(e *webhook.Endpoint) (endpointJSON, error) {
	var out endpointJSON
	for _, c := range []struct {
		name string
		v    any
		to   *string
	}{
		{"event types", orEmpty(e.EventTypes), &out.eventTypes},
		{"channels", orEmpty(e.Channels), &out.channels},
		{"secrets", orEmpty(e.Secrets), &out.secrets}, // base64 strings
		{"headers", orEmptyMap(e.Headers), &out.headers},
		{"metadata", orEmptyMap(e.Metadata), &out.metadata},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			return endpointJSON{}, fmt.Errorf("encode %s: %w", c.name, err)
		}
		*c.to = string(b)
	}
	return out, nil
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanEndpoint(row scanner) (*webhook.Endpoint, error) {
	var (
		e                    webhook.Endpoint
		et, ch, sc, hd, md   []byte
		failingSince, until  sql.NullTime
		createdAt, updatedAt time.Time
	)
	if err := row.Scan(&e.ID, &e.TenantID, &e.URL, &et, &sc, &until, &hd, &e.Auth, &e.RateLimit, &e.Ordered, &e.APIVersion, &e.DisabledReason,
		&failingSince, &md, &createdAt, &updatedAt, &e.Version, &ch); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(et, &e.EventTypes); err != nil {
		return nil, fmt.Errorf("decode event types of endpoint %s: %w", e.ID, err)
	}
	var err error
	if e.Channels, err = decodeChannels(ch); err != nil {
		return nil, fmt.Errorf("decode channels of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(sc, &e.Secrets); err != nil {
		return nil, fmt.Errorf("decode secrets of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(md, &e.Metadata); err != nil {
		return nil, fmt.Errorf("decode metadata of endpoint %s: %w", e.ID, err)
	}
	if err := json.Unmarshal(hd, &e.Headers); err != nil {
		return nil, fmt.Errorf("decode headers of endpoint %s: %w", e.ID, err)
	}
	if len(e.Headers) == 0 {
		e.Headers = nil
	}
	if len(e.Auth) == 0 {
		e.Auth = nil
	}
	if len(e.EventTypes) == 0 {
		e.EventTypes = nil
	}
	if len(e.Secrets) == 0 {
		e.Secrets = nil
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
	e.FailingSince, e.PreviousSecretsUntil = utcOrZero(failingSince), utcOrZero(until)
	e.CreatedAt, e.UpdatedAt = createdAt.UTC(), updatedAt.UTC()
	return &e, nil
}

// CreateEndpoint implements webhook.EndpointStore.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	if err := storableEndpoint(e); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	j, err := encodeEndpoint(e)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO webhook_endpoints ("+endpointColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"),
		e.ID, e.TenantID, e.URL, j.eventTypes, j.secrets, nullTime(e.PreviousSecretsUntil), j.headers, e.Auth, e.RateLimit, e.Ordered, e.APIVersion, e.DisabledReason,
		nullTime(e.FailingSince), j.metadata, sqldb.Timestamp(e.CreatedAt), sqldb.Timestamp(e.UpdatedAt), j.channels)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("endpoint %s: %w", e.ID, webhook.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	e.Version = 1
	return nil
}

// storableEndpoint refuses an endpoint whose text fields a database
// cannot hold.
func storableEndpoint(e *webhook.Endpoint) error {
	if !textfield.Storable(e.ID, e.TenantID, e.URL, e.APIVersion, e.DisabledReason) {
		return fmt.Errorf("%w: endpoint id, tenant, url, api version and disabled reason must be valid UTF-8 without NUL", webhook.ErrInvalid)
	}
	return nil
}

// GetEndpoint implements webhook.EndpointStore.
func (s *Store) GetEndpoint(ctx context.Context, tenantID, id string) (*webhook.Endpoint, error) {
	if !textfield.Storable(tenantID, id) {
		return nil, fmt.Errorf("endpoint %q: %w", id, webhook.ErrNotFound)
	}
	e, err := scanEndpoint(s.db.QueryRowContext(ctx, s.q("SELECT "+endpointColumns+" FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"), tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("endpoint %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

// ListEndpoints implements webhook.EndpointStore.
func (s *Store) ListEndpoints(ctx context.Context, tenantID string) ([]*webhook.Endpoint, error) {
	return s.listEndpoints(ctx, s.db, tenantID)
}

// ListEndpointsTx implements webhook.TxEndpointStore: the endpoints, read
// in tx.
func (s *Store) ListEndpointsTx(ctx context.Context, tx *sql.Tx, tenantID string) ([]*webhook.Endpoint, error) {
	if tx == nil {
		return nil, fmt.Errorf("%w: transaction is required", webhook.ErrInvalid)
	}
	return s.listEndpoints(ctx, tx, tenantID)
}

func (s *Store) listEndpoints(ctx context.Context, q sqldb.Querier, tenantID string) ([]*webhook.Endpoint, error) {
	rows, err := q.QueryContext(ctx, s.q("SELECT "+endpointColumns+" FROM webhook_endpoints WHERE tenant_id = ? ORDER BY created_at, id"), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	var out []*webhook.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint implements webhook.EndpointStore. CreatedAt is kept.
func (s *Store) UpdateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	if !textfield.Storable(e.TenantID, e.ID) {
		return fmt.Errorf("endpoint %q: %w", e.ID, webhook.ErrNotFound)
	}
	if err := storableEndpoint(e); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	j, err := encodeEndpoint(e)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE webhook_endpoints SET url = ?, event_types = ?, secrets = ?, previous_secrets_until = ?, headers = ?, auth = ?,
		rate_limit = ?, ordered = ?, api_version = ?, disabled_reason = ?, failing_since = ?, metadata = ?, channels = ?, updated_at = ?, version = version + 1
		WHERE tenant_id = ? AND id = ? AND version = ?`),
		e.URL, j.eventTypes, j.secrets, nullTime(e.PreviousSecretsUntil), j.headers, e.Auth, e.RateLimit, e.Ordered, e.APIVersion, e.DisabledReason, nullTime(e.FailingSince), j.metadata,
		j.channels, sqldb.Timestamp(e.UpdatedAt), e.TenantID, e.ID, e.Version)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	} else if n == 0 {
		if _, err := s.GetEndpoint(ctx, e.TenantID, e.ID); err != nil {
			return err
		}
		return fmt.Errorf("endpoint %s version %d is stale: %w", e.ID, e.Version, webhook.ErrConflict)
	}
	e.Version++
	return nil
}

// DeleteEndpoint implements webhook.EndpointStore. The endpoint's
// deliveries stay; workers let the pending ones die.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	if !textfield.Storable(tenantID, id) {
		return fmt.Errorf("endpoint %q: %w", id, webhook.ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"), tenantID, id)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	} else if n == 0 {
		return fmt.Errorf("endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return nil
}

// Queue.

// Enqueue implements webhook.Queue: EnqueueTx in a transaction of its own.
func (s *Store) Enqueue(ctx context.Context, msg *webhook.Message, endpoints []*webhook.Endpoint) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error { return s.EnqueueTx(ctx, tx, msg, endpoints) })
}

// orderedLockClass is the first key of the PostgreSQL advisory locks that
// EnqueueTx takes on ordered sequences; the second is a hash of the
// endpoint ID and ordering key. Two-key advisory locks never collide with one-key ones
// such as sqldb's migration lock.
var orderedLockClass = int32(hash32("saaskit.webhook.ordered"))

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// deliveryChunk is how many deliveries one multi-row INSERT writes on
// SQLite (7 parameters each, well below its limit).
const deliveryChunk = 500

// EnqueueTx implements webhook.TxQueue, the transactional outbox: it
// writes msg and one pending delivery per endpoint, due at
// msg.CreatedAt, in tx, so they commit or roll back with whatever else
// tx does. tx must be a transaction on the Store's database. A message
// ID the tenant already used is ErrConflict; tx stays usable (the
// insert does nothing rather than fail), and the caller decides whether
// to commit.
//
// Deliveries of one ordered sequence (an ordered endpoint and an
// ordering key) go out one at a time in seq order, so seq must follow
// commit order: otherwise a transaction that drew a lower seq but
// committed later would put its delivery at the head while a later one
// is already out. On PostgreSQL seq is drawn at insert time, not at
// commit, so EnqueueTx takes a transaction-scoped advisory lock per
// ordered sequence (in a fixed order, so two enqueues never deadlock on
// them): transactions that enqueue to the same sequence commit one
// after the other. On SQLite the write transaction already serialises
// them.
func (s *Store) EnqueueTx(ctx context.Context, tx *sql.Tx, msg *webhook.Message, endpoints []*webhook.Endpoint) error {
	return s.EnqueueManyTx(ctx, tx, []webhook.Outgoing{{Message: msg, Endpoints: endpoints}})
}

// EnqueueMany implements webhook.BulkQueue: EnqueueManyTx in a
// transaction of its own, so the messages are queued all or none.
func (s *Store) EnqueueMany(ctx context.Context, out []webhook.Outgoing) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error { return s.EnqueueManyTx(ctx, tx, out) })
}

// messageChunk is how many messages one multi-row INSERT writes on
// SQLite (7 parameters each); PostgreSQL takes them all as arrays.
const messageChunk = 1000

// EnqueueManyTx implements webhook.BulkQueue: EnqueueTx for many
// messages, with a few multi-row INSERTs in all, not two statements per
// message. A message ID its tenant already used (or used twice in out)
// is ErrConflict, naming it; roll tx back then, since the other
// messages were written.
func (s *Store) EnqueueManyTx(ctx context.Context, tx *sql.Tx, out []webhook.Outgoing) error {
	if tx == nil {
		return fmt.Errorf("%w: transaction is required", webhook.ErrInvalid)
	}
	var deliveries []newDelivery
	for _, o := range out {
		for _, ep := range o.Endpoints {
			deliveries = append(deliveries, newDelivery{o.Message, ep, o.Message.CreatedAt})
		}
	}
	if err := s.lockOrdered(ctx, tx, deliveries); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	chunkSize := messageChunk
	if s.db.Dialect == sqldb.Postgres {
		chunkSize = max(len(out), 1) // arrays: no limit on parameters
	}
	for chunk := range slices.Chunk(out, chunkSize) {
		if err := s.insertMessages(ctx, tx, chunk); err != nil {
			return err
		}
	}
	if _, err := s.insertDeliveries(ctx, tx, deliveries); err != nil {
		return err
	}
	if len(deliveries) == 0 {
		return nil
	}
	if err := s.notifyEnqueued(ctx, tx); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

// newDelivery is a pending delivery of msg to ep, due at, to insert.
type newDelivery struct {
	msg *webhook.Message
	ep  *webhook.Endpoint
	at  time.Time
}

// insertDeliveries writes the deliveries and returns their IDs: on
// PostgreSQL in one INSERT of arrays, on SQLite a few hundred per
// multi-row INSERT.
func (s *Store) insertDeliveries(ctx context.Context, tx *sql.Tx, deliveries []newDelivery) ([]any, error) {
	ids := make([]any, 0, len(deliveries))
	if s.db.Dialect == sqldb.Postgres && len(deliveries) > 0 {
		n := len(deliveries)
		idCol, tenants, messages, endpoints, ordered, keys, ats := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]bool, n), make([]string, n), make([]time.Time, n)
		for i, d := range deliveries {
			idCol[i], tenants[i], messages[i], endpoints[i], ordered[i], keys[i], ats[i] = newDeliveryID(), d.msg.TenantID, d.msg.ID, d.ep.ID, d.ep.Ordered, d.msg.OrderingKey, sqldb.Timestamp(d.at)
			ids = append(ids, idCol[i])
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, tenant_id, message_id, endpoint_id, ordered, ordering_key, state, attempts, next_at, last_error, updated_at)
			SELECT id, tenant_id, message_id, endpoint_id, ordered, ordering_key, 'pending', 0, at, '', at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::timestamptz[]) AS d(id, tenant_id, message_id, endpoint_id, ordered, ordering_key, at)`,
			idCol, tenants, messages, endpoints, ordered, keys, ats)
		if err != nil {
			return nil, fmt.Errorf("enqueue message %s: %w", deliveries[0].msg.ID, err)
		}
		return ids, nil
	}
	for chunk := range slices.Chunk(deliveries, deliveryChunk) {
		var b strings.Builder
		b.WriteString(`INSERT INTO webhook_deliveries (id, tenant_id, message_id, endpoint_id, ordered, ordering_key, state, attempts, next_at, last_error, updated_at) VALUES `)
		args := make([]any, 0, 8*len(chunk))
		for i, d := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', ?)")
			id, at := newDeliveryID(), sqldb.Timestamp(d.at)
			args = append(args, id, d.msg.TenantID, d.msg.ID, d.ep.ID, d.ep.Ordered, d.msg.OrderingKey, at, at)
			ids = append(ids, id)
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return nil, fmt.Errorf("enqueue message %s: %w", chunk[0].msg.ID, err)
		}
	}
	return ids, nil
}

// insertMessages writes the messages in one INSERT, and fails with
// ErrConflict, naming one, when any of their IDs is taken.
func (s *Store) insertMessages(ctx context.Context, tx *sql.Tx, out []webhook.Outgoing) error {
	n := len(out)
	tenants, ids, types, payloads, subjects, ats, channels, keys := make([]string, n), make([]string, n), make([]string, n), make([][]byte, n), make([]string, n), make([]time.Time, n), make([]string, n), make([]string, n)
	for i, o := range out {
		msg := o.Message
		payload := []byte(msg.Payload)
		if payload == nil {
			payload = []byte{}
		}
		tenants[i], ids[i], types[i], payloads[i], subjects[i], ats[i], channels[i], keys[i] = msg.TenantID, msg.ID, msg.EventType, payload, msg.Subject, sqldb.Timestamp(msg.CreatedAt), encodeChannels(msg.Channels), msg.OrderingKey
	}
	const conflict = " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING tenant_id, id"
	var (
		rows *sql.Rows
		err  error
	)
	if s.db.Dialect == sqldb.Postgres { // one INSERT of arrays: no statement with thousands of parameters to parse
		rows, err = tx.QueryContext(ctx, `INSERT INTO webhook_messages (tenant_id, id, event_type, payload, subject, created_at, channels, ordering_key)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])`+conflict,
			tenants, ids, types, payloads, subjects, ats, channels, keys)
	} else {
		var b strings.Builder
		b.WriteString(`INSERT INTO webhook_messages (tenant_id, id, event_type, payload, subject, created_at, channels, ordering_key) VALUES `)
		args := make([]any, 0, 8*n)
		for i := range out {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, tenants[i], ids[i], types[i], payloads[i], subjects[i], ats[i], channels[i], keys[i])
		}
		rows, err = tx.QueryContext(ctx, b.String()+conflict, args...)
	}
	if err != nil {
		return fmt.Errorf("enqueue message %s: %w", out[0].Message.ID, err)
	}
	defer rows.Close()
	written := make(map[[2]string]bool, len(out))
	for rows.Next() {
		var key [2]string
		if err := rows.Scan(&key[0], &key[1]); err != nil {
			return fmt.Errorf("enqueue message %s: %w", out[0].Message.ID, err)
		}
		written[key] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("enqueue message %s: %w", out[0].Message.ID, err)
	}
	if len(written) == len(out) {
		return nil
	}
	for _, o := range out {
		if key := [2]string{o.Message.TenantID, o.Message.ID}; !written[key] {
			return fmt.Errorf("message %s: %w", o.Message.ID, webhook.ErrConflict)
		}
		delete(written, [2]string{o.Message.TenantID, o.Message.ID}) // a second use in out conflicts too
	}
	return fmt.Errorf("enqueue: %w", webhook.ErrConflict)
}

// lockOrdered takes, on PostgreSQL, the advisory lock of each ordered
// sequence (endpoint and ordering key) the deliveries join, in lock key
// order.
func (s *Store) lockOrdered(ctx context.Context, tx *sql.Tx, deliveries []newDelivery) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	var keys []int32
	for _, d := range deliveries {
		if d.ep.Ordered {
			keys = append(keys, int32(hash32(d.ep.ID+"\x00"+d.msg.OrderingKey)))
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, $2)", orderedLockClass, k); err != nil {
			return fmt.Errorf("lock ordered endpoint: %w", err)
		}
	}
	return nil
}

// newDeliveryID returns "dlv_" and 32 hex digits: 48 bits of Unix
// milliseconds, then 80 random bits. IDs sort by when they were made, so
// listing by ID (keyset pagination) lists oldest first.
func newDeliveryID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	return "dlv_" + hex.EncodeToString(b[:])
}

func newLeaseToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// deliveryColumns are read from webhook_deliveries as d joined with
// webhook_messages as m.
const deliveryColumns = `d.id, d.seq, d.tenant_id, d.message_id, d.endpoint_id, d.state, d.attempts, d.next_at, d.last_error,
	d.lease_token, d.lease_until, d.updated_at, m.event_type, m.payload, m.subject, m.created_at, m.channels, m.ordering_key`

// claimedColumns are deliveryColumns and, from the endpoint ep joined to
// a claim's deliveries, its version (0 when it is gone).
const claimedColumns = deliveryColumns + `, COALESCE(ep.version, 0)`

// joinEndpoint joins the claimed deliveries d to their endpoints as ep.
const joinEndpoint = ` LEFT JOIN webhook_endpoints ep ON ep.id = d.endpoint_id `

func scanDelivery(row scanner) (*webhook.Delivery, error) { return scanDeliveryAnd(row) }

// scanDeliveryAnd scans deliveryColumns, then the columns after them
// into more.
func scanDeliveryAnd(row scanner, more ...any) (*webhook.Delivery, error) {
	var (
		d                    webhook.Delivery
		m                    webhook.Message
		state                string
		token                sql.NullString
		leaseUntil           sql.NullTime
		nextAt, updatedAt, c time.Time
		payload, channels    []byte
	)
	if err := row.Scan(append([]any{&d.ID, &d.Seq, &m.TenantID, &m.ID, &d.EndpointID, &state, &d.Attempts, &nextAt, &d.LastError,
		&token, &leaseUntil, &updatedAt, &m.EventType, &payload, &m.Subject, &c, &channels, &m.OrderingKey}, more...)...); err != nil {
		return nil, err
	}
	var err error
	if m.Channels, err = decodeChannels(channels); err != nil {
		return nil, fmt.Errorf("decode channels of message %s: %w", m.ID, err)
	}
	m.Payload, m.CreatedAt = payload, c.UTC()
	d.Message, d.State, d.NextAt, d.UpdatedAt = &m, webhook.DeliveryState(state), nextAt.UTC(), updatedAt.UTC()
	d.LeaseToken, d.LeaseUntil = token.String, utcOrZero(leaseUntil)
	return &d, nil
}

func collectDeliveries(rows *sql.Rows) ([]*webhook.Delivery, error) {
	return collect(rows, scanDelivery)
}

// collectClaimed reads claimedColumns.
func collectClaimed(rows *sql.Rows) ([]*webhook.Delivery, error) {
	return collect(rows, func(row scanner) (*webhook.Delivery, error) {
		var version int64
		d, err := scanDeliveryAnd(row, &version)
		if d != nil {
			d.EndpointVersion = version
		}
		return d, err
	})
}

// collect reads every row with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// due is the condition for a delivery d that Claim may take, with the
// claim time as the parameter(s) marked {now}: pending, due, not leased,
// and, for an ordered delivery, no earlier pending delivery of its
// sequence (its endpoint and ordering key), whether due or leased or
// not, exactly as memstore walks each sequence's pending deliveries in
// seq order.
const due = `d.state = 'pending' AND d.next_at <= {now} AND (d.lease_until IS NULL OR d.lease_until <= {now})
	AND (NOT d.ordered OR NOT EXISTS (
		SELECT 1 FROM webhook_deliveries e
		WHERE e.endpoint_id = d.endpoint_id AND e.ordering_key = d.ordering_key AND e.state = 'pending' AND e.ordered = TRUE AND e.seq < d.seq))`

// pendingEndpoints lists the endpoints that have pending deliveries, one
// index seek each (a loose scan of webhook_deliveries_endpoint): however
// long the backlog, a claim reads only as many entries as there are
// endpoints with work, plus the rows it takes. Then orderedHeads.
func pendingEndpoints(sqlite bool) string {
	hint := indexHint(sqlite, "webhook_deliveries_endpoint")
	return `WITH RECURSIVE eps(endpoint_id) AS (
	SELECT (SELECT w.endpoint_id FROM webhook_deliveries w ` + hint + ` WHERE w.state = 'pending'
		ORDER BY w.endpoint_id LIMIT 1)
	UNION ALL
	SELECT (SELECT w.endpoint_id FROM webhook_deliveries w ` + hint + ` WHERE w.state = 'pending' AND w.endpoint_id > eps.endpoint_id
		ORDER BY w.endpoint_id LIMIT 1)
	FROM eps WHERE eps.endpoint_id IS NOT NULL
), ` + orderedHeads(sqlite)
}

// rowKey is the column a claim finds a delivery by: its rowid, seq, on
// SQLite, and its primary key, id, on PostgreSQL.
func rowKey(sqlite bool) string {
	if sqlite {
		return "seq"
	}
	return "id"
}

// orderedHeads lists, as heads(rk) (rowKey), the first pending delivery
// of every ordered sequence (endpoint and ordering key) with a loose
// scan of webhook_deliveries_ordered: one index seek per sequence with
// pending deliveries, however many wait behind each head. Each step
// seeks the endpoint's next key, or else the next endpoint's first key
// (two seeks both engines' planners use the index for, where a row
// comparison is not one on SQLite). The last row is NULL.
func orderedHeads(sqlite bool) string {
	key := rowKey(sqlite)
	first := `SELECT w.` + key + ` FROM webhook_deliveries w ` + indexHint(sqlite, "webhook_deliveries_ordered") + `
		WHERE w.state = 'pending' AND w.ordered = TRUE`
	return `heads(rk) AS (
	SELECT (` + first + ` ORDER BY w.endpoint_id, w.ordering_key, w.seq LIMIT 1)
	UNION ALL
	SELECT COALESCE(
		(` + first + ` AND w.endpoint_id = p.endpoint_id AND w.ordering_key > p.ordering_key ORDER BY w.ordering_key, w.seq LIMIT 1),
		(` + first + ` AND w.endpoint_id > p.endpoint_id ORDER BY w.endpoint_id, w.ordering_key, w.seq LIMIT 1))
	FROM heads JOIN webhook_deliveries p ON p.` + key + ` = heads.rk
)`
}

// indexHint names the index SQLite must use: its planner would
// otherwise take webhook_deliveries_pending_due and read every pending row.
func indexHint(sqlite bool, index string) string {
	if sqlite {
		return "INDEXED BY " + index
	}
	return ""
}

// notLeased is the condition that delivery d's lease, if any, has run
// out at now.
func notLeased(now string) string {
	return "(d.lease_until IS NULL OR d.lease_until <= " + now + ")"
}

// endpointDue selects the rowKey, seq and next_at of one endpoint's
// (eps.endpoint_id) first perEndpoint due unordered deliveries, longest
// due first, with the claim time as now, from
// webhook_deliveries_endpoint_due, whose walk starts at the oldest
// next_at and stops after perEndpoint. Deliveries waiting out a backoff
// are never read.
func endpointDue(sqlite bool, now, perEndpoint string) string {
	return `SELECT d.` + rowKey(sqlite) + ` AS rk, d.seq, d.next_at FROM webhook_deliveries d ` + indexHint(sqlite, "webhook_deliveries_endpoint_due") + `
		WHERE d.endpoint_id = eps.endpoint_id AND d.ordered = FALSE AND d.state = 'pending'
			AND d.next_at <= ` + now + ` AND ` + notLeased(now) + `
		ORDER BY d.next_at, d.seq LIMIT ` + perEndpoint
}

// headsDue selects the rowKey, seq, next_at and endpoint of the ordered
// sequences' heads that are due and not leased, with the claim time as
// now, each looked up by its key. Deliveries behind a head are never
// read.
func headsDue(sqlite bool, now string) string {
	if sqlite {
		return `SELECT d.seq AS rk, d.seq, d.next_at, d.endpoint_id FROM heads JOIN webhook_deliveries d ON d.seq = heads.rk
		WHERE d.next_at <= ` + now + ` AND ` + notLeased(now)
	}
	return `SELECT d.id AS rk, d.seq, d.next_at, d.endpoint_id FROM heads CROSS JOIN LATERAL (
			SELECT w.id, w.seq, w.next_at, w.endpoint_id, w.lease_until FROM webhook_deliveries w WHERE w.id = heads.rk
			LIMIT 1 -- by its key, for each head: a hash join would read every delivery
		) d
		WHERE d.next_at <= ` + now + ` AND ` + notLeased(now)
}

// claimable selects the rowKey of the deliveries a claim may take, at
// most perEndpoint of any one endpoint, longest due first: each pending
// endpoint's due unordered deliveries (endpointDue, at most perEndpoint
// each) and the due heads of the ordered sequences (headsDue), of which
// each endpoint keeps its first perEndpoint, then the first limit of
// them all. now is the claim time, taken three times.
func claimable(sqlite bool, now, perEndpoint, limit string) string {
	unordered := `SELECT u.rk, u.seq, u.next_at, eps.endpoint_id FROM eps CROSS JOIN LATERAL (` + endpointDue(false, now, perEndpoint) + `) u
			WHERE eps.endpoint_id IS NOT NULL`
	if sqlite { // no LATERAL: a correlated IN
		unordered = `SELECT p.seq AS rk, p.seq, p.next_at, p.endpoint_id FROM eps CROSS JOIN webhook_deliveries p
			ON p.seq IN (SELECT rk FROM (` + endpointDue(true, now, perEndpoint) + `))`
	}
	return `SELECT rk FROM (
		SELECT c.rk, c.seq, c.next_at, row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_at, c.seq) AS n FROM (
			` + unordered + `
			UNION ALL
			` + headsDue(sqlite, now) + `
		) c
	) r WHERE r.n <= ` + perEndpoint + `
	ORDER BY r.next_at, r.seq LIMIT ` + limit
}

// claimPostgres claims in one statement, so in one transaction:
//
//  1. eps: the endpoints with pending deliveries (pendingEndpoints), and
//     heads: the ordered sequences' first deliveries (orderedHeads).
//  2. candidates: the first 2*max claimable deliveries (claimable),
//     locking nothing.
//  3. picked: each candidate, looked up by its key and locked FOR
//     UPDATE SKIP LOCKED, if still claimable, then the first max of
//     them. A row
//     another claimer has locked is skipped, not waited for, and the
//     margin of candidates lets this claimer take others instead. A row
//     that another claimer leased and committed after this statement's
//     snapshot is re-checked on its new version when locked (READ
//     COMMITTED) and dropped, because its lease now runs.
//  4. leased: UPDATE the picked rows' lease, RETURNING them, joined with
//     their messages.
//
// So no two claimers ever hold the same delivery, nobody blocks, at most
// 2*max rows are locked, until the statement ends, and with one claimer
// the result is exactly memstore's. Under contention a claim may come
// back short.
var claimPostgres = pendingEndpoints(false) + `, candidates AS (
	` + claimable(false, "$1", "$3", "2 * $2") + `
), picked AS (
	SELECT d.id FROM candidates c CROSS JOIN LATERAL (
		SELECT w.id, w.seq, w.endpoint_id, w.ordered, w.ordering_key, w.state, w.next_at, w.lease_until
		FROM webhook_deliveries w WHERE w.id = c.rk
		LIMIT 1 FOR UPDATE SKIP LOCKED -- the LIMIT keeps the conditions below from being pushed in, so the key is used
	) d
	WHERE ` + strings.ReplaceAll(due, "{now}", "$1") + `
	ORDER BY d.next_at, d.seq LIMIT $2
), leased AS (
	UPDATE webhook_deliveries u SET lease_token = $4, lease_until = $5
	FROM picked WHERE u.id = picked.id
	RETURNING u.*
)
SELECT ` + claimedColumns + ` FROM leased d
CROSS JOIN LATERAL (
	SELECT m.event_type, m.payload, m.subject, m.created_at, m.channels, m.ordering_key FROM webhook_messages m
	WHERE m.tenant_id = d.tenant_id AND m.id = d.message_id
	LIMIT 1 -- looked up by its key for each claimed row: a hash join would read every message
) m` + joinEndpoint + `
ORDER BY d.next_at, d.seq`

// claimSQLite leases the same deliveries as claimPostgres: the first
// max claimable ones (claimable). It runs in a write transaction, which
// excludes every other writer; the UPDATE comes first, so the
// transaction takes the write lock at once even when it began deferred.
// Its parameters: the lease token and end, then for claimable the claim
// time twice, perEndpoint, the claim time twice, perEndpoint and max.
var claimSQLite = `UPDATE webhook_deliveries SET lease_token = ?, lease_until = ?
WHERE seq IN (
	` + pendingEndpoints(true) + `
	` + claimable(true, "?", "?", "?") + `
)
RETURNING seq`

// Claim implements webhook.Queue. All the deliveries of one claim share
// one random lease token.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	if max <= 0 || perEndpoint <= 0 {
		return nil, nil
	}
	perEndpoint = min(perEndpoint, max)
	token, until := newLeaseToken(), sqldb.Timestamp(now.Add(lease))
	now = sqldb.Timestamp(now)
	var (
		out []*webhook.Delivery
		err error
	)
	if s.db.Dialect == sqldb.Postgres {
		var rows *sql.Rows
		rows, err = s.db.QueryContext(ctx, claimPostgres, now, max, perEndpoint, token, until)
		if err == nil {
			out, err = collectClaimed(rows)
		}
	} else {
		var due bool
		if due, err = s.anyDueSQLite(ctx, now); err != nil || !due {
			return nil, err
		}
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			out, err = s.claimSQLite(ctx, tx, now, until, token, max, perEndpoint)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// anyDueSQLite reports whether some endpoint has a claimable delivery,
// reading only: an idle worker's poll then never takes SQLite's one
// write lock, which senders and other workers are waiting for.
func (s *Store) anyDueSQLite(ctx context.Context, now time.Time) (bool, error) {
	var one int
	rows, err := s.query(ctx, s.db, anyDueSQLite, now, now, now, now)
	if err != nil {
		return false, fmt.Errorf("claim deliveries: %w", err)
	}
	found := rows.Next()
	if found {
		err = rows.Scan(&one)
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err == nil && !found {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim deliveries: %w", err)
	}
	return true, nil
}

// anyDueSQLite selects 1 if an endpoint has a claimable delivery, with
// the claim time as its four parameters.
var anyDueSQLite = pendingEndpoints(true) + `
SELECT 1 FROM eps WHERE eps.endpoint_id IS NOT NULL AND EXISTS (` + endpointDue(true, "?", "1") + `)
UNION ALL
SELECT 1 FROM (` + headsDue(true, "?") + `)
LIMIT 1`

// claimedSQLite reads the claimed deliveries, whose seqs its parameter
// lists as a JSON array: one statement text whatever their number, so
// that it stays prepared.
const claimedSQLite = `SELECT ` + claimedColumns + ` FROM webhook_deliveries d
	JOIN webhook_messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id` + joinEndpoint + `
	WHERE d.seq IN (SELECT value FROM json_each(?)) ORDER BY d.next_at, d.seq`

func (s *Store) claimSQLite(ctx context.Context, tx *sql.Tx, now, until time.Time, token string, max, perEndpoint int) ([]*webhook.Delivery, error) {
	rows, err := s.query(ctx, tx, claimSQLite, token, until, now, now, perEndpoint, now, now, perEndpoint, max)
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(seqs) == 0 {
		return nil, err
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return nil, err
	}
	rows, err = s.query(ctx, tx, claimedSQLite, string(list))
	if err != nil {
		return nil, err
	}
	return collectClaimed(rows)
}

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

// encodeHeaders is the text of an attempt's recorded headers: a JSON
// object, "{}" for none.
func encodeHeaders(h map[string]string) string {
	if len(h) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(h) // strings always encode
	return string(b)
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
