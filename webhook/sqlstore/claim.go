package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

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
