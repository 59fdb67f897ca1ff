// Package sqlopen opens the database that saaskit's SQL stores share,
// from a DSN, as the stores expect it: SQLite (modernc.org/sqlite, in
// WAL mode with a busy timeout, foreign keys and a time format that
// round-trips) or PostgreSQL (pgx), with a connection pool sized so that
// concurrent work never churns connections. Every store's New takes the
// *sql.DB it returns, and each store's Migrate creates its own tables.
//
//	db, err := sqlopen.Open(ctx, "sqlite:data/saas.db") // or postgres://...
//	tenants, err := tenancysqlstore.New(db)
//	hooks, err := webhooksqlstore.New(db)
//
// It also tells the two engines apart (DialectOf) for an application's
// own queries, and names the errors the stores wrap so callers can test
// for them with errors.Is.
package sqlopen

import (
	"context"
	"database/sql"

	"github.com/saaskit/saaskit/internal/sqldb"
)

// Dialect is the SQL engine behind a *sql.DB.
type Dialect = sqldb.Dialect

// The engines.
const (
	SQLite   = sqldb.SQLite
	Postgres = sqldb.Postgres
)

// Errors the stores wrap.
var (
	// ErrUnsupported means the DSN or the driver is neither SQLite nor
	// PostgreSQL.
	ErrUnsupported = sqldb.ErrUnsupported
	// ErrNewerSchema means the database was migrated by a newer build
	// than this one: this build refuses to touch it.
	ErrNewerSchema = sqldb.ErrNewerSchema
)

// Open opens the database of dsn: "postgres://..." or
// "postgresql://..." for PostgreSQL; "sqlite:PATH", "file:PATH?...", a
// path ending in .db, .sqlite or .sqlite3, or ":memory:" for SQLite.
// Parameters already in the DSN win over the defaults. Errors never
// contain a password from the DSN.
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return db.DB, nil
}

// DialectOf tells which engine db is, from its driver.
func DialectOf(db *sql.DB) (Dialect, error) { return sqldb.DialectOf(db) }

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint violation, on either engine.
func IsUniqueViolation(err error) bool { return sqldb.IsUniqueViolation(err) }
