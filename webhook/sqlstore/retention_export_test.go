package sqlstore

import (
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// PlannedQuery is one of Store.Expire's statements with its arguments,
// before rebinding, for tests of its plan, and the index through which
// it must read webhook_deliveries.
type PlannedQuery struct {
	Name  string
	Query string
	Args  []any
	Index string
}

// ExpireQueries returns the statements by which Store.Expire finds what
// e expires, as it runs them for two messages.
func ExpireQueries(e webhook.Expiry) []PlannedQuery {
	messages := [][2]string{{"acme", "m1"}, {"globex", "m2"}}
	var out []PlannedQuery
	add := func(name, index, query string, args []any) { out = append(out, PlannedQuery{name, query, args, index}) }
	query, args := expiredQuery(webhook.StateSucceeded, e.Succeeded, e.Batch)
	add("expired deliveries", "webhook_deliveries_finished", query, args)
	query, args = deleteEmptyMessagesQuery(messages)
	add("empty messages", "webhook_deliveries_message", query, args)
	query, args = succeededAfterQuery(time.Time{}, 0, e)
	add("succeeded deliveries", "webhook_deliveries_finished", query, args)
	query, args = expungeQuery(messages, e.Payload)
	add("expunge", "webhook_deliveries_message", query, args)
	return out
}
