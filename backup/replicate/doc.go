// Package replicate backs a SQLite database up continuously: each
// change is shipped to backup targets within a second of its commit,
// encrypted with the backup package's Cipher, and the database can be
// restored as it was at any moment inside the retention window, or to
// the latest change shipped.
//
//	app, err := sql.Open("sqlite", "file:app.db?_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint(0)")
//	err = replicate.CheckConnections(ctx, app) // WAL mode, checkpoints left to the replicator
//	r, err := replicate.Start(ctx, "app.db", cipher, targets, replicate.Options{})
//	defer r.Close(ctx) // after the application's own *sql.DB is closed
//	...
//	err = replicate.Restore(ctx, cipher, targets, "replica/app.db/", "restored.db", at)
//
// It is built on Litestream (github.com/benbjohnson/litestream), which
// reads the database's write-ahead log beside the application, turns
// the new frames into LTX files, compacts them into larger levels and
// periodic snapshots, and restores by replaying them onto the newest
// snapshot before the chosen time. This package gives Litestream a
// replica client over backup.Target: each LTX file becomes one object,
// encrypted with the Cipher under associated data that binds it to its
// name, and written to every target, so replicas are stored and
// protected like every other backup object.
//
// Requirements that come from Litestream: the database is in WAL mode,
// the application uses modernc.org/sqlite (as the rest of saaskit
// does), it sets pragmas in the DSN rather than per connection, its
// connections leave checkpoints to the replicator (CheckConnections
// tells), and Close runs after the application has closed its
// connections.
//
// # Recovery point
//
// While the targets are reachable, at most Options.SyncInterval of
// commits (default 1 s) are not yet on them; Replicator.Lag counts
// them. A process killed between syncs resumes from the WAL on its next
// Start: nothing committed is lost as long as the database file and its
// WAL survive.
//
// Replicator.Newest is the newest point a restore can reach, as the
// replicating process knows it (a database with no writes stays
// current); Replicator.Continuous gives it, with a point-in-time
// Restore, to a backup.Scheduler, which reports the achieved RPO and
// drills restores (see package backup). Another process measures from
// the targets with Continuous, whose newest point is the newest change
// shipped.
//
// # Incremental snapshots by changed pages
//
// Replicator.Source gives the database to Repository.Snapshot as a
// backup.ChangeSource: the database file, page for page, as one read
// transaction sees it (through SQLite's sqlite_dbpage table), with the
// pages written since the previous snapshot's state named by the change
// sets this Replicator shipped. A snapshot then reads those pages and
// the chunks around them only, not the whole database:
//
//	repo.Snapshot(ctx, r.Source("app.db", db))
//
// When the change sets since the previous snapshot are no longer on
// the targets (older than Options.Retention, or compacted into a
// snapshot), the snapshot reads every page; so does every
// RepositoryOptions.FullReadEvery-th one.
package replicate
