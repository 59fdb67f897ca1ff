package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

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
