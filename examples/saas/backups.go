package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	leasestore "github.com/saaskit/saaskit/backup/sqlstore"
	skcrypto "github.com/saaskit/saaskit/crypto"
)

// backups backs the demo's SQLite database up every hour to
// <data>/backups, encrypted under a platform backup key whose key store
// is <data>/backup-keys.db, not the database it backs up, keeps them by
// the GFS policy, and drills a restore of the newest backup daily (and
// once at start, so the demo shows one). On SQLite it also ships every
// change there within a second (package backup/replicate), so the
// database can be restored to any moment of the last 24 hours; the
// scheduler measures that replica's achieved RPO and drills a
// point-in-time restore of it daily (once shipping began).
type backups struct {
	sched *backup.Scheduler
	b     *backup.Backups
	// replicas is where the SQLite database's changes are shipped
	// continuously (nil on PostgreSQL), encrypted like the backups.
	replicas []backup.Target
	cipher   backup.Cipher
	// db is the application's handle on its database.
	db *sql.DB
	// live replicates the database, once replicate has started it.
	live atomic.Pointer[replicate.Replicator]
}

// replicaJob names the continuous replica in the scheduler.
const replicaJob = "saas-db-replica"

// replicaPrefix names the SQLite database's continuous replica on the
// backup target.
const replicaPrefix = "replica/saas.db/"

// replication is the continuous replica's restore window (its oldest
// point and newest change shipped), its achieved recovery point as the
// scheduler measures it (how long ago the newest moment whose commits
// are all shipped was), and its last point-in-time drill.
type replication struct {
	Oldest     time.Time           `json:"oldest"`
	Newest     time.Time           `json:"newest"`
	RPOSeconds float64             `json:"rpo_seconds"`
	RPO        time.Duration       `json:"-"`
	Violated   bool                `json:"rpo_violated"`
	LastDrill  *backup.DrillReport `json:"last_drill,omitempty"`
}

// replication reads the replica's window and measures it; nil on
// PostgreSQL or before anything was shipped.
func (bk *backups) replication(ctx context.Context) *replication {
	if bk.replicas == nil {
		return nil
	}
	w, err := replicate.Points(ctx, bk.cipher, bk.replicas, replicaPrefix)
	if err != nil {
		return nil
	}
	bk.sched.Measure(ctx)
	st, _ := bk.sched.Status(replicaJob)
	return &replication{Oldest: w.Oldest, Newest: w.Newest, RPOSeconds: st.AchievedRPO.Seconds(), RPO: st.AchievedRPO,
		Violated: st.RPOViolated, LastDrill: st.LastDrill}
}

// continuous is the replica as the scheduler measures and drills it:
// from the live replicator's state while this process replicates (an
// idle database stays current), else from the target.
func (bk *backups) continuous(dataDir string) backup.Continuous {
	offline := replicate.Continuous(replicaJob, bk.cipher, bk.replicas, replicaPrefix)
	return backup.Continuous{
		Name: replicaJob,
		Newest: func(ctx context.Context) (time.Time, error) {
			if r := bk.live.Load(); r != nil {
				return r.Newest(ctx)
			}
			return offline.Newest(ctx)
		},
		Restore: func(ctx context.Context, at time.Time, path string) error {
			if r := bk.live.Load(); r != nil {
				return r.Restore(ctx, at, path)
			}
			return offline.Restore(ctx, at, path)
		},
		RPO:        time.Minute,
		DrillEvery: 24 * time.Hour,
		Drill:      backup.DrillOptions{ScratchDir: dataDir, Check: sqlitecheck.Query("SELECT 1 FROM tenancy_tenants LIMIT 1")},
	}
}

// replicate ships the SQLite database's changes to the backup folder
// within a second of their commit, until stop is called (after the
// application's connections are closed).
func (bk *backups) replicate(ctx context.Context, path string, logger *slog.Logger) (stop func(), err error) {
	if err := replicate.CheckConnections(ctx, bk.db); err != nil {
		return nil, err
	}
	r, err := replicate.Start(ctx, path, bk.cipher, bk.replicas, replicate.Options{Prefix: replicaPrefix, Logger: logger})
	if err != nil {
		return nil, err
	}
	bk.live.Store(r)
	return func() {
		if err := r.Close(context.Background()); err != nil {
			logger.Error("closing continuous backup", slog.String("error", err.Error()))
		}
	}, nil
}

func newBackups(db *sql.DB, pgDSN string, keys *skcrypto.Keyring, dataDir string, logger *slog.Logger) (*backups, error) {
	local, err := backup.NewDirTarget(filepath.Join(dataDir, "backups"))
	if err != nil {
		return nil, err
	}
	cipher := backup.KeyringCipher(keys, "platform")
	b, err := backup.New(cipher, []backup.Target{local}, backup.Options{})
	if err != nil {
		return nil, err
	}
	gfs := retention.GFS() // 7 daily, 4 weekly, 12 monthly, every yearly
	source, check := backup.SQLiteSource("saas.db", db, dataDir), sqlitecheck.Integrity
	if pgDSN != "" { // PostgreSQL: pg_dump's archive, checked by its signature
		source, check = backup.PostgresSource("saas", pgDSN), isPGDump
	}
	job := backup.Job{
		Name: "saas-db", Source: source,
		Every: time.Hour, DrillEvery: 24 * time.Hour,
		Drill:      backup.DrillOptions{ScratchDir: dataDir, Check: check},
		Placements: []backup.Placement{{Target: local.Name(), Media: "disk"}},
		Retention:  &gfs,
	}
	leases, err := leasestore.New(db, nil) // several demo processes on one database take turns
	if err != nil {
		return nil, err
	}
	if err := leases.Migrate(context.Background()); err != nil {
		return nil, err
	}
	bk := &backups{b: b, cipher: cipher, db: db}
	opts := backup.SchedulerOptions{Logger: logger, Leases: leases}
	if pgDSN == "" {
		bk.replicas = []backup.Target{local}
		opts.Continuous = []backup.Continuous{bk.continuous(dataDir)}
	}
	if bk.sched, err = backup.NewScheduler(b, []backup.Job{job}, opts); err != nil {
		return nil, err
	}
	return bk, nil
}

// run backs up and drills at once, then on schedule until ctx ends.
func (bk *backups) run(ctx context.Context) { _ = bk.sched.Run(ctx, time.Minute) }

// status handles GET /admin/backups: the job's age, RPO, copies, 3-2-1
// violations and last drill, and the catalog.
func (bk *backups) status(w http.ResponseWriter, r *http.Request, _ string) error {
	st, _ := bk.sched.Status("saas-db")
	catalog, err := bk.b.Manifests(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"job": st, "backups": catalog, "replication": bk.replication(r.Context())})
	return nil
}

// isPGDump checks that a restored file is a pg_dump custom archive (a
// drill could also pg_restore it into a scratch database).
func isPGDump(_ context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 5)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "PGDMP" {
		return fmt.Errorf("not a pg_dump archive")
	}
	return nil
}
