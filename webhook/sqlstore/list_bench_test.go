package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// BenchmarkListPages reads one page of 50 (the management API's
// default) from a tenant's history: 1M deliveries of 1M messages over
// 10 endpoints in a soak run (SAASKIT_SOAK=1), 100,000 otherwise, with
// 1% dead and one endpoint that has none. Each op is one page.
//
//	SAASKIT_SOAK=1 go test -run '^$' -bench ListPages -benchtime 200x ./webhook/sqlstore/
func BenchmarkListPages(b *testing.B) {
	n := 100_000
	if os.Getenv("SAASKIT_SOAK") != "" {
		n = 1_000_000
	}
	for _, be := range sqldbtest.Engines {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b)
			s := newStore(b, db)
			fillHistory(b, db, n)
			ctx := context.Background()
			middle, err := s.Deliveries(ctx, "acme", webhook.DeliveryFilter{Limit: 1, AfterID: fmt.Sprintf("dlv_%08d", n/2)})
			require.NoError(b, err)
			require.Len(b, middle, 1)
			for _, c := range []struct {
				name string
				f    webhook.DeliveryFilter
				want int
			}{
				{"deliveries/first", webhook.DeliveryFilter{Limit: 50}, 50},
				{"deliveries/middle", webhook.DeliveryFilter{Limit: 50, AfterID: middle[0].ID}, 50},
				{"deliveries/endpoint", webhook.DeliveryFilter{Limit: 50, EndpointID: "ep3"}, 50},
				{"deliveries/dead", webhook.DeliveryFilter{Limit: 50, State: webhook.StateDead}, 50},
				{"deliveries/endpoint-without-any", webhook.DeliveryFilter{Limit: 50, EndpointID: "ep-new"}, 0},
				{"deliveries/message", webhook.DeliveryFilter{Limit: 50, MessageID: fmt.Sprintf("msg_%08d", n/3)}, 1},
			} {
				b.Run(c.name, func(b *testing.B) {
					query, args := sqlstore.DeliveriesQuery("acme", c.f)
					logPlan(b, db, query, args)
					b.ReportAllocs()
					for b.Loop() {
						page, err := s.Deliveries(ctx, "acme", c.f)
						if err != nil || len(page) != c.want {
							b.Fatalf("%d deliveries, %v; want %d", len(page), err, c.want)
						}
					}
				})
			}
			after := &webhook.Message{ID: fmt.Sprintf("msg_%08d", n/2), CreatedAt: t0.Add(time.Duration(n/2) * time.Second)}
			for name, f := range map[string]webhook.MessageFilter{
				"messages/first":  {Limit: 50},
				"messages/middle": {Limit: 50, After: after},
				"messages/window": {Limit: 50, Since: t0.Add(time.Duration(n/4) * time.Second), Until: t0.Add(time.Duration(n/4+100) * time.Second)},
			} {
				b.Run(name, func(b *testing.B) {
					query, args := sqlstore.MessagesQuery("acme", f)
					logPlan(b, db, query, args)
					b.ReportAllocs()
					for b.Loop() {
						page, err := s.Messages(ctx, "acme", f)
						if err != nil || len(page) != 50 {
							b.Fatalf("%d messages, %v", len(page), err)
						}
					}
				})
			}
		})
	}
}

// logPlan logs the plan of a listing's query, as the engine runs it:
// EXPLAIN ANALYZE on PostgreSQL (with the buffers it read), EXPLAIN
// QUERY PLAN on SQLite. BENCHMARKS.md shows them.
func logPlan(b *testing.B, db *sqldb.DB, query string, args []any) {
	b.Helper()
	if db.Dialect == sqldb.Postgres {
		b.Logf("plan:\n%s", explain(b, db, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ", false, query, args...))
		return
	}
	b.Logf("plan:\n%s", explain(b, db, "EXPLAIN QUERY PLAN ", false, query, args...))
}

// fillHistory writes n messages of tenant acme a second apart from t0,
// each with one delivery to one of ten endpoints (ep0 to ep9), all
// succeeded but every hundredth, which is dead; another tenant has as
// many, to endpoints of its own.
func fillHistory(b *testing.B, db *sqldb.DB, n int) {
	ctx := context.Background()
	// t0 plus k seconds, as each engine stores a time.
	createdAt, number := "CAST(? AS TIMESTAMPTZ) + k * INTERVAL '1 second'", "lpad(k::text, 8, '0')"
	if db.Dialect != sqldb.Postgres {
		createdAt, number = "strftime('%Y-%m-%d %H:%M:%S', ?, '+' || k || ' seconds') || '+00:00'", "substr('0000000' || k, -8, 8)"
	}
	for _, tenant := range []string{"acme", "globex"} {
		_, err := db.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO webhook_messages (tenant_id, id, event_type, payload, subject, created_at)
			WITH RECURSIVE r(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM r WHERE k < ?)
			SELECT ?, 'msg_' || `+number+`, 'invoice.paid', ?, '', `+createdAt+` FROM r`),
			n-1, tenant, []byte(`{"n":1}`), t0.Format("2006-01-02 15:04:05"))
		require.NoError(b, err)
		_, err = db.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO webhook_deliveries
			(id, tenant_id, message_id, endpoint_id, ordered, state, attempts, next_at, last_error, updated_at)
			SELECT CASE WHEN tenant_id = 'acme' THEN 'dlv_' ELSE 'dlg_' END || substr(id, 5), tenant_id, id, CASE WHEN tenant_id = 'acme' THEN 'ep' ELSE 'other-ep' END || (CAST(substr(id, 5) AS INTEGER) % 10), FALSE,
				CASE WHEN CAST(substr(id, 5) AS INTEGER) % 100 = 7 THEN 'dead' ELSE 'succeeded' END, 1, created_at, '', created_at
			FROM webhook_messages WHERE tenant_id = ?`), tenant)
		require.NoError(b, err)
	}
	if db.Dialect == sqldb.Postgres {
		_, err := db.ExecContext(ctx, "ANALYZE webhook_messages; ANALYZE webhook_deliveries")
		require.NoError(b, err)
	}
}
