package backup_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	_ "modernc.org/sqlite"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// The achieved RPO of a PostgreSQL cluster whose WAL is archived: how
// long ago its newest segment was archived, in Status and in the gauge
// saaskit.backup.rpo.achieved. (A SQLite database that backup/replicate
// ships is measured and drilled the same way, with
// Replicator.Continuous.)
func ExampleContinuous() {
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri) // in production: a KMS or crypto/localkms
	st := cryptomem.New()
	keys, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b, _ := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("local")}, backup.Options{Now: clock})

	s, err := backup.NewScheduler(b, nil, backup.SchedulerOptions{Now: clock, Continuous: []backup.Continuous{
		{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	// archive_command (saaskit backup wal-push %p) archives a segment.
	dir, _ := os.MkdirTemp("", "pg_wal")
	defer os.RemoveAll(dir)
	seg := filepath.Join(dir, "000000010000000000000001")
	_ = os.WriteFile(seg, make([]byte, 1<<20), 0o600)
	if err := b.PushWAL(ctx, seg); err != nil {
		fmt.Println(err)
		return
	}

	now = now.Add(45 * time.Second)
	s.RunDue(ctx) // measures the continuous sources (and runs due jobs)
	status, _ := s.Status("postgres")
	fmt.Println("newest point:", status.NewestPoint.Format(time.TimeOnly))
	fmt.Println("achieved RPO:", status.AchievedRPO, "violated:", status.RPOViolated)
	now = now.Add(2 * time.Minute)
	s.Measure(ctx) // measure now, not at the last RunDue (metric collection does too)
	status, _ = s.Status("postgres")
	fmt.Println("achieved RPO:", status.AchievedRPO, "violated:", status.RPOViolated)
	// Output:
	// newest point: 14:00:00
	// achieved RPO: 45s violated: false
	// achieved RPO: 2m45s violated: true
}

// Drill a point-in-time restore on demand: restore the source as it was
// at a moment into scratch space, check it, and measure how long it
// took (the achieved RTO). Here Restore writes a SQLite database; with
// backup/replicate it is Replicator.Restore.
func ExampleContinuous_DrillAt() {
	src := backup.Continuous{
		Name: "app.db",
		Restore: func(ctx context.Context, at time.Time, path string) error {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(ctx, "CREATE TABLE tenants (id TEXT); INSERT INTO tenants VALUES ('acme')")
			return err
		},
		Drill: backup.DrillOptions{Check: sqlitecheck.Query("SELECT 1 FROM tenants")},
	}
	report := src.DrillAt(context.Background(), time.Date(2026, 11, 27, 14, 4, 0, 0, time.UTC))
	fmt.Println(report.Kind, report.Point.Format(time.RFC3339), "ok:", report.OK)
	fmt.Println("measured RTO:", report.Duration > 0)
	// Output:
	// point_in_time 2026-11-27T14:04:00Z ok: true
	// measured RTO: true
}
