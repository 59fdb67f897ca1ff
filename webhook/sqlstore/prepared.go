package sqlstore

import (
	"context"
	"database/sql"
	"sync"

	"github.com/saaskit/saaskit/internal/sqldb"
)

// statements keeps the delivery path's statements prepared on SQLite,
// whose driver parses every query afresh: parsing a claim or a
// completion cost about 40% of the database's time per delivery.
// database/sql prepares each statement once per connection and reuses
// it. (pgx caches prepared statements per connection by itself.)
type statements struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// exec runs query through q (the database or a transaction) with its
// prepared statement on SQLite, or directly on PostgreSQL.
func (s *Store) exec(ctx context.Context, q sqldb.Querier, query string, args ...any) (sql.Result, error) {
	st, err := s.statement(ctx, q, query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return q.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// query is exec for a query that returns rows.
func (s *Store) query(ctx context.Context, q sqldb.Querier, query string, args ...any) (*sql.Rows, error) {
	st, err := s.statement(ctx, q, query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return q.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// statement returns query's prepared statement for q; nil on
// PostgreSQL. A transaction's statement closes with the transaction.
func (s *Store) statement(ctx context.Context, q sqldb.Querier, query string) (*sql.Stmt, error) {
	if s.db.Dialect == sqldb.Postgres {
		return nil, nil
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	st := s.stmts.m[query]
	if st == nil {
		var err error
		if st, err = s.db.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if s.stmts.m == nil {
			s.stmts.m = map[string]*sql.Stmt{}
		}
		s.stmts.m[query] = st
	}
	if tx, ok := q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st), nil
	}
	return st, nil
}
