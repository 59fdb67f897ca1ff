// Package sqldb is the SQL plumbing shared by saaskit's storage adapters:
// opening SQLite or PostgreSQL from one DSN, the few pieces of SQL that
// differ between the two, and versioned migrations.
//
// # Quick start
//
//	db, err := sqldb.Open(ctx, "app.db") // or "postgres://user@host/db"
//	if err != nil { ... }
//	defer db.Close()
//	ms, err := sqldb.LoadMigrations(migrationsFS, "migrations")
//	if err != nil { ... }
//	if err := db.Migrate(ctx, "webhook", ms); err != nil { ... }
//	_, err = db.ExecContext(ctx, db.Dialect.Rebind("DELETE FROM t WHERE id = ?"), id)
//
// # Dialects
//
// Write queries with '?' placeholders and pass them through
// [Dialect.Rebind]. Column types come from [Dialect.JSONType] and
// [Dialect.TimeType]; work queues claim rows with [Dialect.SkipLocked];
// [Dialect.Upsert] writes INSERT ... ON CONFLICT, which both engines
// accept.
//
// # Times
//
// Store instants as UTC truncated to microseconds, [Timestamp](t): that is
// PostgreSQL's precision, so a value read back equals the value written on
// both engines, and SQLite, which keeps times as text, then orders and
// compares them correctly. Scan them into time.Time or sql.NullTime and
// compare with time.Time.Equal (PostgreSQL returns them in the local zone).
//
// # Migrations
//
// Each component keeps its migrations as files NNNN_name.sql, usually
// embedded, and applies them with [DB.Migrate], which records them in the
// table saaskit_migrations and is safe to call from many processes at
// once.
package sqldb
