package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"
)

// ErrUnsupported reports a data source name or driver this package does not
// handle.
var ErrUnsupported = errors.New("unsupported database")

// DB is a database handle that knows its [Dialect]. The embedded *sql.DB is
// used as usual; write queries with '?' placeholders and pass them through
// Dialect.Rebind.
type DB struct {
	*sql.DB
	// Dialect is the engine behind DB.
	Dialect Dialect
}

// sqliteDefaults are the DSN parameters Open adds for SQLite unless the DSN
// already sets them (under the key or its alias). The shorthand keys are
// modernc.org/sqlite's; each runs a PRAGMA on every new connection.
var sqliteDefaults = []struct{ key, alias, value string }{
	{"_journal_mode", "_journal", "WAL"},
	{"_busy_timeout", "_timeout", "10000"},
	{"_foreign_keys", "_fk", "on"},
	{"_synchronous", "_sync", "NORMAL"},
	// BEGIN IMMEDIATE: a write transaction takes the write lock when it
	// starts, so two transactions never deadlock upgrading a read lock.
	{"_txlock", "", "immediate"},
	// Write times as "2006-01-02 15:04:05.999999999-07:00", which scans
	// back into an equal time.Time and, for UTC times, sorts as text.
	{"_time_format", "", "sqlite"},
}

// Pool sizes that Open sets.
const (
	// PostgresMaxConns bounds a PostgreSQL pool's connections, open and
	// idle alike: enough for a worker's default 16 deliveries in flight
	// and the queries beside them, well inside the server's default
	// max_connections of 100 for a few processes.
	PostgresMaxConns = 24
	// SQLiteMaxIdleConns is how many idle connections a SQLite file
	// keeps, so that concurrent readers do not reopen the file and
	// rerun its pragmas.
	SQLiteMaxIdleConns = 8
)

// Open opens and pings the database that dsn names:
//
//   - "postgres://..." or "postgresql://...": PostgreSQL through pgx
//     (driver "pgx"); the URL's parameters are pgx's.
//   - "sqlite:PATH", "file:PATH?...", a path ending in .db, .sqlite or
//     .sqlite3 (optionally followed by ?params), or ":memory:": SQLite through
//     modernc.org/sqlite (driver "sqlite").
//
// For SQLite, Open turns on WAL, a 10 s busy timeout, foreign keys,
// synchronous=NORMAL, immediate write transactions and a time format that
// round-trips; parameters already in the DSN win. An in-memory database is
// limited to one connection, so that every query sees the same database;
// a SQLite file keeps [SQLiteMaxIdleConns] idle connections. A PostgreSQL
// pool keeps up to [PostgresMaxConns] connections open and idle, closing
// one that has been idle for 5 minutes, so concurrent work never churns
// connections.
//
// Errors name the driver but never contain a password from the DSN.
func Open(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case dsn == "":
		return nil, fmt.Errorf("sqldb: empty dsn: %w", ErrUnsupported)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return open(ctx, Postgres, "pgx", dsn, "", redacter(dsn))
	}
	name, ok := sqliteName(dsn)
	if !ok {
		return nil, fmt.Errorf("sqldb: %s: %w (want postgres://, postgresql://, sqlite:, file:, "+
			"a path ending in .db, .sqlite or .sqlite3, or :memory:)", describeScheme(dsn), ErrUnsupported)
	}
	path, _, _ := strings.Cut(name, "?")
	name, err := withSQLiteDefaults(name)
	if err != nil {
		return nil, err
	}
	return open(ctx, SQLite, "sqlite", name, " "+path, strings.NewReplacer())
}

// ConfigurePool sizes db's pool as Open does for a database of dialect
// d: for PostgreSQL, up to PostgresMaxConns connections, all kept idle
// (database/sql keeps 2 idle by default, so a process with more
// concurrent queries than that opens a new backend, milliseconds each,
// for nearly every one of them), closing one idle for 5 minutes; for a
// SQLite file, SQLiteMaxIdleConns idle connections.
func ConfigurePool(db *sql.DB, d Dialect) {
	if d == Postgres {
		db.SetMaxOpenConns(PostgresMaxConns)
		db.SetMaxIdleConns(PostgresMaxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return
	}
	db.SetMaxIdleConns(SQLiteMaxIdleConns)
}

// open opens driver on dsn, pings it and wraps it. Errors name the driver
// and where, and r scrubs secrets from their text.
func open(ctx context.Context, d Dialect, driver, dsn, where string, r *strings.Replacer) (*DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, &redacted{fmt.Errorf("sqldb: open %s%s (driver %q): %w", d, where, driver, err), r}
	}
	if d == SQLite && isMemory(dsn) {
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		ConfigurePool(db, d)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, &redacted{fmt.Errorf("sqldb: connect to %s%s (driver %q): %w", d, where, driver, err), r}
	}
	return &DB{DB: db, Dialect: d}, nil
}

// sqliteName turns a SQLite DSN into the name modernc.org/sqlite opens,
// reporting false when dsn is not a SQLite DSN.
func sqliteName(dsn string) (string, bool) {
	if rest, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		rest = strings.TrimPrefix(rest, "//") // sqlite:///abs/path.db
		return rest, rest != ""
	}
	if strings.HasPrefix(dsn, "file:") || dsn == ":memory:" {
		return dsn, true
	}
	path, _, _ := strings.Cut(dsn, "?")
	for _, ext := range []string{".db", ".sqlite", ".sqlite3"} {
		if strings.HasSuffix(path, ext) && !strings.Contains(path, "://") {
			return dsn, true
		}
	}
	return "", false
}

// withSQLiteDefaults appends the parameters of sqliteDefaults that name
// does not set already. The caller's parameters are kept as written.
func withSQLiteDefaults(name string) (string, error) {
	_, query, _ := strings.Cut(name, "?")
	have, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqldb: sqlite dsn parameters: %w", err)
	}
	pragmas := strings.ToLower(strings.Join(have["_pragma"], " "))
	add := url.Values{}
	for _, p := range sqliteDefaults {
		pragma := strings.TrimPrefix(p.key, "_")
		if have.Has(p.key) || (p.alias != "" && have.Has(p.alias)) || strings.Contains(pragmas, pragma) {
			continue
		}
		add.Set(p.key, p.value)
	}
	if len(add) == 0 {
		return name, nil
	}
	sep := "?"
	if strings.Contains(name, "?") {
		sep = "&"
	}
	return name + sep + add.Encode(), nil
}

// isMemory reports whether the SQLite name opens an in-memory database,
// which exists per connection unless the connection is shared.
func isMemory(name string) bool {
	path, query, _ := strings.Cut(name, "?")
	q, _ := url.ParseQuery(query)
	return strings.TrimPrefix(path, "file:") == ":memory:" || q.Get("mode") == "memory"
}

// describeScheme names what dsn looks like in an error without repeating
// the DSN itself, which may hold a secret.
func describeScheme(dsn string) string {
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" || strings.IndexFunc(scheme, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) >= 0 {
		return "unrecognised dsn"
	}
	return fmt.Sprintf("dsn scheme %q", scheme)
}

// redacter returns a replacer that masks the password of a URL DSN, in
// the userinfo or a password= parameter, raw and decoded. It parses by
// hand so that it works on a DSN that net/url rejects.
func redacter(dsn string) *strings.Replacer {
	var secrets []string
	addSecret := func(s string) {
		if s == "" {
			return
		}
		secrets = append(secrets, s)
		if dec, err := url.PathUnescape(s); err == nil && dec != s {
			secrets = append(secrets, dec)
		}
		if dec, err := url.QueryUnescape(s); err == nil && dec != s {
			secrets = append(secrets, dec)
		}
	}
	_, rest, _ := strings.Cut(dsn, "://")
	authority, query := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			query = rest[j+1:]
		}
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
			addSecret(pw)
		}
	}
	query, _, _ = strings.Cut(query, "#")
	for kv := range strings.SplitSeq(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "password") {
			addSecret(v)
		}
	}
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "xxxxx")
	}
	return strings.NewReplacer(pairs...)
}

// redacted is an error whose text has the DSN's secrets masked. Unwrap
// keeps errors.Is and errors.As working on the cause.
type redacted struct {
	err error
	r   *strings.Replacer
}

func (e *redacted) Error() string { return e.r.Replace(e.err.Error()) }
func (e *redacted) Unwrap() error { return e.err }
