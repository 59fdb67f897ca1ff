// Package sqldbtest opens fresh databases for tests: SQLite always, and
// PostgreSQL when the environment variable SAASKIT_TEST_POSTGRES_DSN holds
// a server's URL. Each database is removed when its test ends.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/saaskit/saaskit/internal/sqldb"
)

// EnvPostgresDSN is the environment variable holding the URL of the
// PostgreSQL server that tests use, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = "SAASKIT_TEST_POSTGRES_DSN"

// skipPostgres is the reason printed when PostgreSQL tests are skipped.
const skipPostgres = EnvPostgresDSN + " is unset: skipping PostgreSQL"

// Engine is a database engine that tests run on.
type Engine struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Open returns a fresh, empty database, closed and removed when t
	// ends.
	Open func(t testing.TB) *sqldb.DB
}

// Engines are the engines every SQL adapter is tested on, for tests
// and benchmarks that iterate themselves; ForEach and EachEngine run
// subtests over them. Without SAASKIT_TEST_POSTGRES_DSN, PostgreSQL's
// Open skips with the reason.
var Engines = []Engine{{Name: "sqlite", Open: OpenSQLite}, {Name: "postgres", Open: OpenPostgres}}

// ForEach runs fn as a subtest named after each engine, each with a fresh
// database. Without SAASKIT_TEST_POSTGRES_DSN the postgres subtest is
// skipped with the reason.
func ForEach(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Open(t)) })
	}
}

// EachEngine runs fn as a subtest named after each engine with that
// engine's Open, for suites that open a fresh database per case. Without
// SAASKIT_TEST_POSTGRES_DSN, opening PostgreSQL skips with the reason.
func EachEngine(t *testing.T, fn func(t *testing.T, open func(testing.TB) *sqldb.DB)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Open) })
	}
}

// OpenSQLite opens a new SQLite database file under t.TempDir().
func OpenSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "test.db"))
}

// OpenPostgres creates a schema with a random name on the server that
// SAASKIT_TEST_POSTGRES_DSN names and opens a DB whose connections use it;
// the schema is dropped when t ends. It skips t when the variable is
// unset and fails it when the server is unreachable.
func OpenPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		t.Skip(skipPostgres)
	}
	admin, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("sqldbtest: %s is set but PostgreSQL is unreachable: %v", EnvPostgresDSN, err)
	}
	schema := "t_" + randomHex(8)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		_ = admin.Close()
		t.Fatalf("sqldbtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("sqldbtest: drop schema %s: %v", schema, err)
		}
	})
	return openSchema(t, dsn, schema)
}

// Reopen opens a second, independent handle on the database behind db,
// as another process would: the same file for SQLite, the same schema for
// PostgreSQL. It is closed when t ends.
func Reopen(t testing.TB, db *sqldb.DB) *sqldb.DB {
	t.Helper()
	return open(t, DSN(t, db))
}

// openSchema opens dsn with search_path set to schema.
func openSchema(t testing.TB, dsn, schema string) *sqldb.DB {
	t.Helper()
	return open(t, schemaDSN(t, dsn, schema))
}

// schemaDSN is dsn with search_path set to schema.
func schemaDSN(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("sqldbtest: %s is not a URL", EnvPostgresDSN) // the error would print the DSN
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DSN returns the data source name with which another process opens the
// database behind db, as sqldb.Open takes it: the SQLite file, or the
// PostgreSQL server with db's schema as its search path.
func DSN(t testing.TB, db *sqldb.DB) string {
	t.Helper()
	switch db.Dialect {
	case sqldb.SQLite:
		var seq int
		var name, file string
		if err := db.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
			t.Fatalf("sqldbtest: find sqlite file: %v", err)
		}
		if file == "" {
			t.Fatalf("sqldbtest: an in-memory sqlite database has no DSN another process can open")
		}
		return "sqlite:" + file
	case sqldb.Postgres:
		var schema string
		if err := db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatalf("sqldbtest: find postgres schema: %v", err)
		}
		return schemaDSN(t, os.Getenv(EnvPostgresDSN), schema)
	}
	t.Fatalf("sqldbtest: unknown dialect %v", db.Dialect)
	return ""
}

// open opens dsn and closes it when t ends.
func open(t testing.TB, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("sqldbtest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
