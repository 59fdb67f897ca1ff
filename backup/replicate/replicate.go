package replicate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"

	"github.com/saaskit/saaskit/backup"
)

// Options configure Start.
type Options struct {
	// Prefix names the database's objects on the targets, apart from
	// other databases' and from periodic backups. Default: the database
	// file's name and "/" under "replica/", e.g. "replica/app.db/".
	Prefix string
	// SyncInterval is how often new WAL frames are shipped to the
	// targets: the recovery point objective while they are reachable.
	// Default 1 second.
	SyncInterval time.Duration
	// SnapshotInterval is how often a full snapshot of the database is
	// written, from which restores start. Default 1 hour.
	SnapshotInterval time.Duration
	// Retention is how far back a restore can go: older snapshots and
	// changes are deleted. Default 24 hours.
	Retention time.Duration
	// Logger records replication failures. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults(path string) Options {
	if o.Prefix == "" {
		o.Prefix = "replica/" + filepath.Base(path) + "/"
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.SnapshotInterval <= 0 {
		o.SnapshotInterval = time.Hour
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Replicator ships a SQLite database's changes to backup targets as they
// commit. Make it with Start; Close it after the application has closed
// its own connections to the database.
type Replicator struct {
	db      *litestream.DB
	store   *litestream.Store
	rep     *litestream.Replica
	client  *client
	cipher  backup.Cipher
	targets []backup.Target
	opts    Options
	// synced is when the last Sync that returned nil started (Unix ns).
	synced atomic.Int64
}

// Start replicates the SQLite database at path, which must be in WAL
// mode (the application keeps writing through its own *sql.DB, opened
// with modernc.org/sqlite), to targets, encrypted with cipher. Changes
// are shipped every SyncInterval; snapshots are taken every
// SnapshotInterval and what is older than Retention is deleted.
//
// Open the application's connections with automatic checkpoints off
// (the DSN parameter _pragma=wal_autocheckpoint(0)): the replicator
// checkpoints the WAL itself once it has read it. With them on, a
// process killed mid-write could leave commits checkpointed out of the
// WAL before they were shipped, and the replicator started again would
// not see them (TestKilledWriterLosesNothing lost such rows about once
// in twenty runs under load; none in ninety with them off). While no
// replicator runs, the WAL then grows until one does. CheckConnections
// tells whether an application's *sql.DB is opened so.
func Start(ctx context.Context, path string, cipher backup.Cipher, targets []backup.Target, opts Options) (*Replicator, error) {
	if cipher == nil || len(targets) == 0 {
		return nil, errors.New("replicate: a cipher and at least one target are required")
	}
	opts = opts.withDefaults(path)
	db := litestream.NewDB(path)
	db.Logger = opts.Logger
	c := &client{cipher: cipher, targets: targets, prefix: opts.Prefix, logger: opts.Logger}
	rep := litestream.NewReplicaWithClient(db, c)
	rep.SyncInterval = opts.SyncInterval
	db.Replica = rep
	db.MonitorInterval = opts.SyncInterval
	levels := litestream.CompactionLevels{
		{Level: 0},
		{Level: 1, Interval: 30 * time.Second},
		{Level: 2, Interval: 5 * time.Minute},
	}
	store := litestream.NewStore([]*litestream.DB{db}, levels)
	store.SnapshotInterval = opts.SnapshotInterval
	store.SnapshotRetention = opts.Retention
	store.Logger = opts.Logger
	db.SetLogger(opts.Logger) // NewStore gave it the default logger
	if err := store.Open(ctx); err != nil {
		return nil, fmt.Errorf("replicate %s: %w", path, err)
	}
	return &Replicator{db: db, store: store, rep: rep, client: c, cipher: cipher, targets: targets, opts: opts}, nil
}

// Sync ships what has committed so far, at once, and returns when the
// targets hold it.
func (r *Replicator) Sync(ctx context.Context) error {
	start := time.Now()
	if err := r.db.Sync(ctx); err != nil {
		return fmt.Errorf("replicate: sync: %w", err)
	}
	if err := r.rep.Sync(ctx); err != nil {
		return fmt.Errorf("replicate: sync: %w", err)
	}
	for ns := start.UnixNano(); ; {
		old := r.synced.Load()
		if ns <= old || r.synced.CompareAndSwap(old, ns) {
			break
		}
	}
	return nil
}

// Lag is how many of the database's change sets the targets do not
// hold yet: each is what one sync gathered from the WAL (a Litestream
// transaction), holding every commit since the sync before. It is 0
// once Sync returns; commits not yet gathered are not counted.
func (r *Replicator) Lag() (uint64, error) {
	local, err := r.db.Pos()
	if err != nil {
		return 0, fmt.Errorf("replicate: position: %w", err)
	}
	remote := r.rep.Pos()
	if local.TXID <= remote.TXID {
		return 0, nil
	}
	return uint64(local.TXID - remote.TXID), nil
}

// Close ships what is left and stops replicating. Close the
// application's connections to the database first.
func (r *Replicator) Close(ctx context.Context) error {
	if err := r.store.Close(ctx); err != nil {
		return fmt.Errorf("replicate: close: %w", err)
	}
	return nil
}

// restorer is a replica that only reads the targets.
func restorer(cipher backup.Cipher, targets []backup.Target, prefix string) *litestream.Replica {
	return litestream.NewReplicaWithClient(nil, &client{cipher: cipher, targets: targets, prefix: prefix, logger: slog.Default()})
}

// Window is the span a restore can reach: from the oldest restore point
// kept to the newest change shipped.
type Window struct {
	Oldest, Newest time.Time
}

// Points returns the restore window of the database replicated under
// prefix, or backup.ErrNotFound when nothing is there.
func Points(ctx context.Context, cipher backup.Cipher, targets []backup.Target, prefix string) (Window, error) {
	oldest, newest, err := restorer(cipher, targets, prefix).TimeBounds(ctx)
	if err != nil {
		return Window{}, fmt.Errorf("replicate: %w", err)
	}
	if newest.IsZero() {
		return Window{}, fmt.Errorf("replicate: nothing replicated under %q: %w", prefix, backup.ErrNotFound)
	}
	return Window{Oldest: oldest, Newest: newest}, nil
}

// Restore writes the database replicated under prefix, as it was at the
// given time (the latest when at is zero), to outputPath, which must not
// exist. A time outside the restore window is an error that names the
// window.
func Restore(ctx context.Context, cipher backup.Cipher, targets []backup.Target, prefix, outputPath string, at time.Time) error {
	w, err := Points(ctx, cipher, targets, prefix)
	if err != nil {
		return err
	}
	if !at.IsZero() && (at.Before(w.Oldest) || at.After(w.Newest)) {
		return fmt.Errorf("replicate: %s is outside the restore window %s to %s", at.UTC().Format(time.RFC3339Nano),
			w.Oldest.Format(time.RFC3339Nano), w.Newest.Format(time.RFC3339Nano))
	}
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = outputPath
	if !at.IsZero() {
		// Litestream restores the changes made before the timestamp;
		// "as it was at" includes a change made at that millisecond
		// (the resolution of the changes' times).
		opt.Timestamp = at.Truncate(time.Millisecond).Add(time.Millisecond)
	}
	opt.IntegrityCheck = litestream.IntegrityCheckQuick
	if err := restorer(cipher, targets, prefix).Restore(ctx, opt); err != nil {
		return fmt.Errorf("replicate: restore to %s: %w", outputPath, err)
	}
	return nil
}

// Newest returns the newest point a restore can reach, as this
// Replicator knows it: every commit made before it is on the targets.
// It is the latest of: when the last Sync that returned nil started;
// when the newest change this process shipped was read from the WAL;
// and, while nothing is left to ship (Lag is 0), the last successful
// sync less SyncInterval, as Litestream reads the WAL every
// SyncInterval: a database with no writes stays current rather than
// seeming to fall behind. Before this process has shipped anything, it
// is the newest change on the targets (Points). The achieved RPO is
// the time since.
func (r *Replicator) Newest(ctx context.Context) (time.Time, error) {
	var newest time.Time
	if ns := r.synced.Load(); ns > 0 {
		newest = time.Unix(0, ns)
	}
	if ms := r.client.shipped.Load(); ms > 0 {
		newest = later(newest, time.UnixMilli(ms))
	}
	if lag, err := r.Lag(); err == nil && lag == 0 {
		if at := r.db.LastSuccessfulSyncAt(); !at.IsZero() {
			newest = later(newest, at.Add(-r.opts.SyncInterval))
		}
	}
	if !newest.IsZero() {
		return newest.UTC(), nil
	}
	w, err := Points(ctx, r.cipher, r.targets, r.opts.Prefix)
	if err != nil {
		return time.Time{}, err
	}
	return w.Newest, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Restore writes the database as it was at the given time (the latest
// when at is zero) to outputPath, which must not exist, as the
// package's Restore does. A time after the newest change on the
// targets but not after Newest is restored as that change left the
// database: nothing was committed in between.
func (r *Replicator) Restore(ctx context.Context, at time.Time, outputPath string) error {
	if !at.IsZero() {
		newest, nerr := r.Newest(ctx) // before Points: what it vouches for is listed then
		w, err := Points(ctx, r.cipher, r.targets, r.opts.Prefix)
		if err != nil {
			return err
		}
		if nerr == nil && at.After(w.Newest) && !at.After(newest) {
			at = w.Newest
		}
	}
	return Restore(ctx, r.cipher, r.targets, r.opts.Prefix, outputPath, at)
}

// Continuous is the replicated database as a continuous source of a
// backup.Scheduler: its achieved RPO is measured with Newest and its
// point-in-time restores drilled with Restore. Set the source's RPO,
// DrillEvery and Drill (with sqlitecheck.Integrity, say) on the result.
func (r *Replicator) Continuous(name string) backup.Continuous {
	return backup.Continuous{Name: name, Newest: r.Newest, Restore: r.Restore}
}

// Continuous is the database replicated under prefix as a continuous
// source of a backup.Scheduler in a process that does not replicate it
// (the one that does uses Replicator.Continuous): its newest point is
// the newest change on the targets (Points). That cannot tell a
// database with no writes from one whose replication stopped, so on an
// idle database the achieved RPO it gives grows though nothing is
// unshipped.
func Continuous(name string, cipher backup.Cipher, targets []backup.Target, prefix string) backup.Continuous {
	return backup.Continuous{
		Name: name,
		Newest: func(ctx context.Context) (time.Time, error) {
			w, err := Points(ctx, cipher, targets, prefix)
			return w.Newest, err
		},
		Restore: func(ctx context.Context, at time.Time, path string) error {
			return Restore(ctx, cipher, targets, prefix, path, at)
		},
	}
}

// CheckConnections returns an error naming what is wrong when db, the
// application's handle on a database Start replicates, is not in WAL
// mode or its connections checkpoint the WAL on their own (see Start).
// SQLite keeps the checkpoint setting per connection, in the process
// that opened it, so Start cannot see it: call this where the
// application opens its database, before it writes.
func CheckConnections(ctx context.Context, db *sql.DB) error {
	var mode string
	var pages int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("replicate: check connections: journal_mode: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		return fmt.Errorf("replicate: check connections: wal_autocheckpoint: %w", err)
	}
	switch {
	case !strings.EqualFold(mode, "wal"):
		return fmt.Errorf("replicate: the database's journal_mode is %q; replication needs \"wal\"", mode)
	case pages != 0:
		return fmt.Errorf("replicate: the application's connections checkpoint every %d pages; open them with _pragma=wal_autocheckpoint(0) so that only the replicator checkpoints", pages)
	}
	return nil
}
