package sqlstore

// AttemptHistoryQuery is the query of Store.AttemptHistory, for tests of
// its plan.
var AttemptHistoryQuery = attemptHistoryQuery
