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
	"time"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	leasestore "github.com/saaskit/saaskit/backup/sqlstore"
	skcrypto "github.com/saaskit/saaskit/crypto"
)

// backups backs the demo's SQLite database up every hour to
// <data>/backups, encrypted under a platform backup key whose key store
// is <data>/backup-keys.db, not the database it backs up, keeps them by
// the GFS policy, and drills a restore of the newest backup daily (and
// once at start, so the demo shows one).
type backups struct {
	sched *backup.Scheduler
	b     *backup.Backups
}

func newBackups(db *sql.DB, pgDSN string, keys *skcrypto.Keyring, dataDir string, logger *slog.Logger) (*backups, error) {
	local, err := backup.NewDirTarget(filepath.Join(dataDir, "backups"))
	if err != nil {
		return nil, err
	}
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{local}, backup.Options{})
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
	s, err := backup.NewScheduler(b, []backup.Job{job}, backup.SchedulerOptions{Logger: logger, Leases: leases})
	if err != nil {
		return nil, err
	}
	return &backups{sched: s, b: b}, nil
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
	writeJSON(w, http.StatusOK, map[string]any{"job": st, "backups": catalog})
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
