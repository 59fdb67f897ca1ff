package sqlstore_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// tableScan matches a plan line that reads a whole table: PostgreSQL's
// Seq Scan, or SQLite's SCAN of a table (or of an alias the claim
// gives one) without an index.
var tableScan = regexp.MustCompile(`(?i)(Seq Scan on webhook_|SCAN (webhook_\w+|[wdpeum]|ep)\s*$)`)

// TestClaimReadsByIndex: a claim finds the ordered sequences' heads by
// seeking webhook_deliveries_ordered, and reads no table whole, on
// either engine.
func TestClaimReadsByIndex(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			newStore(t, db)
			for _, q := range sqlstore.ClaimQueries(db.Dialect == sqldb.SQLite, t0) {
				plan := queryPlan(t, db, q.Query, q.Args...)
				assert.Contains(t, plan, q.Index, "%s: the plan:\n%s", q.Name, plan)
				for line := range strings.Lines(plan) {
					assert.NotRegexp(t, tableScan, line, "%s: a table scan in the plan:\n%s", q.Name, plan)
				}
			}
		})
	}
}

// TestListReadsByIndex: each listing the management API pages through
// walks the index made for its filter, on either engine, so a page costs
// about its own rows however long the history (BenchmarkListPages).
func TestListReadsByIndex(t *testing.T) {
	after := &webhook.Message{ID: "msg_1", CreatedAt: t0}
	cases := []struct {
		name, index string
		query       string
		args        []any
	}{}
	add := func(name, index, query string, args []any) {
		cases = append(cases, struct {
			name, index string
			query       string
			args        []any
		}{name, index, query, args})
	}
	for name, c := range map[string]struct {
		index string
		f     webhook.DeliveryFilter
	}{
		"deliveries":             {"webhook_deliveries_tenant", webhook.DeliveryFilter{AfterID: "dlv_1"}},
		"deliveries of endpoint": {"webhook_deliveries_endpoint_id", webhook.DeliveryFilter{EndpointID: "ep1", AfterID: "dlv_1"}},
		"deliveries of message":  {"webhook_deliveries_message", webhook.DeliveryFilter{MessageID: "msg_1"}},
		"dead deliveries":        {"webhook_deliveries_dead", webhook.DeliveryFilter{State: webhook.StateDead}},
	} {
		query, args := sqlstore.DeliveriesQuery("acme", c.f)
		add(name, c.index, query, args)
	}
	for name, f := range map[string]webhook.MessageFilter{
		"messages":           {After: after},
		"messages of window": {Since: t0, Until: t0.Add(time.Hour)},
	} {
		query, args := sqlstore.MessagesQuery("acme", f)
		add(name, "webhook_messages_tenant_created", query, args)
	}
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			newStore(t, db)
			for _, c := range cases {
				plan := queryPlan(t, db, c.query, c.args...)
				assert.Contains(t, plan, c.index, "%s: the plan:\n%s", c.name, plan)
				for line := range strings.Lines(plan) {
					assert.NotRegexp(t, tableScan, line, "%s: a table scan in the plan:\n%s", c.name, plan)
				}
			}
		})
	}
}
