package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

const day = 24 * time.Hour

// finishMessages enqueues n messages of the tenant acme, created at `at`,
// each to the endpoints ep1 and ep2, then claims every delivery and
// records one attempt for each a minute later: the delivery to ep2 of
// every 20th message dies, the others succeed.
func finishMessages(t testing.TB, st *sqlstore.Store, at time.Time, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	eps := []*webhook.Endpoint{endpoint("ep1", false), endpoint("ep2", false)}
	payload := fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("x", 200))
	dies := map[string]bool{}
	out := make([]webhook.Outgoing, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s-%07d", prefix, i)
		out = append(out, webhook.Outgoing{Endpoints: eps, Message: &webhook.Message{
			ID: id, TenantID: "acme", EventType: "invoice.paid", Payload: payload, CreatedAt: at,
		}})
		dies[id] = i%20 == 0
	}
	require.NoError(t, st.EnqueueMany(ctx, out))
	done := at.Add(time.Minute)
	for {
		claimed, err := st.Claim(ctx, done, time.Hour, 1000, 1000)
		require.NoError(t, err)
		if len(claimed) == 0 {
			return
		}
		cs := make([]webhook.Completion, len(claimed))
		for i, d := range claimed {
			d.State, d.Attempts = webhook.StateSucceeded, 1
			if dies[d.Message.ID] && d.EndpointID == "ep2" {
				d.State, d.LastError = webhook.StateDead, "HTTP 500"
			}
			cs[i] = webhook.Completion{Delivery: d, Attempt: webhook.Attempt{At: done, Status: 200}}
		}
		for _, err := range st.CompleteBatch(ctx, cs) {
			require.NoError(t, err)
		}
	}
}

// queryPlan returns the plan of query on db, one line per step.
// PostgreSQL is told to avoid sequential scans, which it prefers for
// tables this small, so a plan that still has one has no index to use.
func queryPlan(t *testing.T, db *sqldb.DB, query string, args ...any) string {
	t.Helper()
	if db.Dialect == sqldb.Postgres {
		return explain(t, db, "EXPLAIN ", true, query, args...)
	}
	return explain(t, db, "EXPLAIN QUERY PLAN ", false, query, args...)
}

// explain runs query behind the explain prefix in a transaction it rolls
// back, with sequential scans off on PostgreSQL if noSeqScan, and
// returns the plan, a row a line.
func explain(tb testing.TB, db *sqldb.DB, prefix string, noSeqScan bool, query string, args ...any) string {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(tb, err)
	defer func() { _ = tx.Rollback() }()
	if noSeqScan {
		_, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off")
		require.NoError(tb, err)
	}
	rows, err := tx.QueryContext(ctx, db.Dialect.Rebind(prefix+query), args...)
	require.NoError(tb, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(tb, err)
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		require.NoError(tb, rows.Scan(vals...))
		for _, v := range vals {
			fmt.Fprint(&plan, *v.(*any), " ")
		}
		plan.WriteString("\n")
	}
	require.NoError(tb, rows.Err())
	return plan.String()
}

// TestExpireReadsByIndex: every statement by which Expire finds what
// expired seeks an index, never scans a table, and reads
// webhook_deliveries only through the index meant for it: the partial
// index of finished deliveries to find them by age, the message index
// to judge a message.
func TestExpireReadsByIndex(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			newStore(t, db)
			e := webhook.Retention{Payload: 2 * day}.At(t0)
			for _, q := range sqlstore.ExpireQueries(e) {
				plan := queryPlan(t, db, q.Query, q.Args...)
				assert.Contains(t, plan, q.Index, "%s: the plan:\n%s", q.Name, plan)
				for line := range strings.Lines(plan) {
					assert.NotRegexp(t, `(?i)(^|\s)(SCAN webhook_|Seq Scan on webhook_)`, line, "%s: a table scan in the plan:\n%s", q.Name, plan)
					if strings.Contains(line, "webhook_deliveries") {
						assert.Contains(t, line, q.Index, "%s: webhook_deliveries read through another index:\n%s", q.Name, plan)
					}
				}
			}
		})
	}
}

// TestConcurrentExpire: three processes sweeping one queue at once
// remove each payload, delivery and message once, between them, and
// leave nothing due.
func TestConcurrentExpire(t *testing.T) {
	const n = 200 // messages, each to two endpoints
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			finishMessages(t, newStore(t, db), t0, "m", n)
			var stores []*sqlstore.Store
			for range 3 {
				stores = append(stores, newStore(t, sqldbtest.Reopen(t, db)))
			}
			sweep := func(e webhook.Expiry) webhook.ExpireResult {
				var (
					mu    sync.Mutex
					total webhook.ExpireResult
					wg    sync.WaitGroup
				)
				for _, st := range stores {
					wg.Go(func() {
						for {
							res, err := st.Expire(context.Background(), e)
							assert.NoError(t, err)
							mu.Lock()
							total.Messages += res.Messages
							total.Deliveries += res.Deliveries
							total.Attempts += res.Attempts
							total.Payloads += res.Payloads
							mu.Unlock()
							if err != nil || !res.More {
								return
							}
						}
					})
				}
				wg.Wait()
				return total
			}
			want := n - n/20 // the messages whose deliveries all succeeded
			assert.Equal(t, webhook.ExpireResult{Payloads: want}, sweep(webhook.Retention{Payload: day, Batch: 7}.At(t0.Add(2*day))))
			assert.Equal(t, webhook.ExpireResult{Messages: want, Deliveries: 2*n - n/20, Attempts: 2*n - n/20},
				sweep(webhook.Retention{Finished: 7 * day, Dead: 30 * day, Batch: 7}.At(t0.Add(8*day))))
			assert.Equal(t, webhook.ExpireResult{Messages: n / 20, Deliveries: n / 20, Attempts: n / 20},
				sweep(webhook.Retention{Finished: 7 * day, Dead: 30 * day, Batch: 7}.At(t0.Add(31*day))))
			assert.Equal(t, map[string]int{"webhook_messages": 0, "webhook_deliveries": 0, "webhook_attempts": 0}, rowCounts(t, db))
		})
	}
}

// rowCounts counts the rows of the queue's tables.
func rowCounts(t testing.TB, db *sqldb.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"webhook_messages", "webhook_deliveries", "webhook_attempts"} {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
		out[table] = n
	}
	return out
}
