package sqlstore

import "time"

// AttemptHistoryQuery is the query of Store.AttemptHistory, for tests of
// its plan.
var AttemptHistoryQuery = attemptHistoryQuery

// ClaimQueries are the statements of Store.Claim on the dialect, with
// arguments for a claim at now, for tests of their plans.
func ClaimQueries(sqlite bool, now time.Time) []PlannedQuery {
	lease := now.Add(time.Minute)
	if sqlite {
		return []PlannedQuery{
			{Name: "anyDue", Query: anyDueSQLite, Args: []any{now, now, now, now}, Index: "webhook_deliveries_ordered"},
			{Name: "claim", Query: claimSQLite, Args: []any{"token", lease, now, now, 10, now, now, 10, 100}, Index: "webhook_deliveries_ordered"},
		}
	}
	return []PlannedQuery{{Name: "claim", Query: claimPostgres, Args: []any{now, 100, 10, "token", lease}, Index: "webhook_deliveries_ordered"}}
}

// ListQueries are the queries of Store.Deliveries and Store.Messages, for
// tests and benchmarks of their plans.
var (
	DeliveriesQuery = deliveriesQuery
	MessagesQuery   = messagesQuery
)

// EncodeHeaders and DecodeHeaders are how attempts' headers are stored.
var (
	EncodeHeaders = encodeHeaders
	DecodeHeaders = decodeHeaders
)
