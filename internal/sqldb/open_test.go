package sqldb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// openT opens dsn and closes it when t ends.
func openT(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pragma reads PRAGMA name as text.
func pragma(t *testing.T, db *sqldb.DB, name string) string {
	t.Helper()
	var v string
	require.NoError(t, db.QueryRow("PRAGMA "+name).Scan(&v))
	return strings.ToLower(v)
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, dsn, file string }{
		{"sqlite scheme", "sqlite:" + filepath.Join(dir, "a.db"), "a.db"},
		{"sqlite scheme with slashes", "sqlite://" + filepath.Join(dir, "b.db"), "b.db"},
		{"file uri", "file:" + filepath.Join(dir, "c.db") + "?cache=private", "c.db"},
		{"path .db", filepath.Join(dir, "d.db"), "d.db"},
		{"path .sqlite", filepath.Join(dir, "e.sqlite"), "e.sqlite"},
		{"path .sqlite3 with params", filepath.Join(dir, "f.sqlite3") + "?_cache_size=-2000", "f.sqlite3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openT(t, tt.dsn)
			assert.Equal(t, sqldb.SQLite, db.Dialect)
			assert.Equal(t, "wal", pragma(t, db, "journal_mode"))
			assert.Equal(t, "10000", pragma(t, db, "busy_timeout"))
			assert.Equal(t, "1", pragma(t, db, "foreign_keys"))
			assert.Equal(t, "1", pragma(t, db, "synchronous"), "NORMAL")
			_, err := os.Stat(filepath.Join(dir, tt.file))
			assert.NoError(t, err, "the database file is where the DSN says")
		})
	}
}

func TestOpenSQLiteCallerParamsWin(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "x.db")+"?_busy_timeout=250&_pragma=journal_mode(DELETE)")
	assert.Equal(t, "250", pragma(t, db, "busy_timeout"))
	assert.Equal(t, "delete", pragma(t, db, "journal_mode"))
	assert.Equal(t, "1", pragma(t, db, "foreign_keys"))
}

// As backup/replicate asks of the application's connections.
func TestOpenSQLiteAutocheckpointOff(t *testing.T) {
	db := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "x.db")+"?_pragma=wal_autocheckpoint(0)")
	assert.Equal(t, "0", pragma(t, db, "wal_autocheckpoint"))
	assert.Equal(t, "wal", pragma(t, db, "journal_mode"), "the suite's own pragmas stay")
}

func TestOpenSQLiteForeignKeysEnforced(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	_, err := db.Exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p(id))")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO c (p) VALUES (42)")
	assert.Error(t, err, "foreign keys are on on every connection")
}

func TestOpenSQLiteMemory(t *testing.T) {
	db := openT(t, ":memory:")
	assert.Equal(t, 1, db.Stats().MaxOpenConnections)
	_, err := db.Exec("CREATE TABLE t (x INTEGER)")
	require.NoError(t, err)
	// Queries from many goroutines all reach the one database.
	done := make(chan error)
	for range 4 {
		go func() {
			_, err := db.Exec("INSERT INTO t (x) VALUES (1)")
			done <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-done)
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 4, n)
}

// A write transaction takes the write lock at BEGIN (_txlock=immediate), so
// a second writer waits at BEGIN, not at its first write where SQLite
// could only fail it.
func TestOpenSQLiteImmediateTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock.db")
	a := openT(t, path)
	b := openT(t, path+"?_busy_timeout=50")
	ctx := context.Background()

	tx, err := a.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()

	start := time.Now()
	_, err = b.BeginTx(ctx, nil)
	require.Error(t, err, "BEGIN must wait for the write lock that the first transaction holds")
	assert.Contains(t, strings.ToLower(err.Error()), "locked")
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "the busy timeout applies")

	require.NoError(t, tx.Rollback())
	tx2, err := b.BeginTx(ctx, nil)
	require.NoError(t, err, "the lock is free again")
	require.NoError(t, tx2.Rollback())
}

func TestOpenUnsupported(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"empty", "", "empty dsn"},
		{"mysql", "mysql://root:hunter2@db/app", `dsn scheme "mysql"`},
		{"keyword dsn", "host=db password=hunter2", "unrecognised dsn"},
		{"path without extension", "/var/lib/app/data", "unrecognised dsn"},
		{"sqlite without path", "sqlite:", `dsn scheme "sqlite"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.Open(context.Background(), tt.dsn)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.ErrorIs(t, err, sqldb.ErrUnsupported)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestOpenSQLiteUnopenable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.db")
	db, err := sqldb.Open(context.Background(), "sqlite:"+path)
	require.Error(t, err)
	assert.Nil(t, db)
	assert.Contains(t, err.Error(), `(driver "sqlite")`)
	assert.Contains(t, err.Error(), path)
}

func TestOpenSQLiteBadParams(t *testing.T) {
	_, err := sqldb.Open(context.Background(), filepath.Join(t.TempDir(), "x.db")+"?_txlock=sometimes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sqlite")
	assert.Contains(t, err.Error(), "_txlock")
}

func TestOpenPostgresErrorsHidePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct{ name, dsn string }{
		{"unreachable", "postgres://app:hunter2@127.0.0.1:1/app?sslmode=disable&connect_timeout=5"},
		{"postgresql scheme", "postgresql://app:hunter2@127.0.0.1:1/app?sslmode=disable"},
		{"escaped password", "postgres://app:hunter%32@127.0.0.1:1/app?sslmode=disable"},
		{"password parameter", "postgres://app@127.0.0.1:1/app?sslmode=disable&password=hunter2"},
		{"bad port", "postgres://app:hunter2@127.0.0.1:port/app"},
		{"bad escape", "postgres://app:hunter2%zz@127.0.0.1:1/app"},
		{"bad parameter", "postgres://app:hunter2@127.0.0.1:1/app?sslmode=bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.Open(ctx, tt.dsn)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.Contains(t, err.Error(), "postgres")
			assert.Contains(t, err.Error(), `"pgx"`, "the error names the driver")
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "hunter%32")
		})
	}
}

func TestOpenPostgres(t *testing.T) {
	dsn := os.Getenv(sqldbtest.EnvPostgresDSN)
	if dsn == "" {
		t.Skip(sqldbtest.EnvPostgresDSN + " is unset: skipping PostgreSQL")
	}
	db := openT(t, dsn)
	assert.Equal(t, sqldb.Postgres, db.Dialect)
	var one int
	require.NoError(t, db.QueryRow(db.Dialect.Rebind("SELECT ?::int"), 1).Scan(&one))
	assert.Equal(t, 1, one)
}

func TestMultiStatementExec(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		_, err := db.Exec(`CREATE TABLE a (x INTEGER);
			INSERT INTO a (x) VALUES (1);
			INSERT INTO a (x) VALUES (2);`)
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRow("SELECT sum(x) FROM a").Scan(&n))
		assert.Equal(t, 3, n)
	})
}

func TestReopenSharesDatabase(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		_, err := db.Exec("CREATE TABLE shared (x INTEGER)")
		require.NoError(t, err)
		other := sqldbtest.Reopen(t, db)
		assert.Equal(t, db.Dialect, other.Dialect)
		_, err = other.Exec("INSERT INTO shared (x) VALUES (7)")
		require.NoError(t, err)
		var x int
		require.NoError(t, db.QueryRow("SELECT x FROM shared").Scan(&x))
		assert.Equal(t, 7, x)
	})
}

func TestFreshDatabases(t *testing.T) {
	for _, b := range sqldbtest.Engines {
		t.Run(b.Name, func(t *testing.T) {
			for range 2 {
				db := b.Open(t)
				_, err := db.Exec("CREATE TABLE only_once (x INTEGER)")
				require.NoError(t, err, "every Open gives an empty database")
			}
		})
	}
}
