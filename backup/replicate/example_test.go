package replicate_test

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
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// Replicate a SQLite database, and let a backup Scheduler measure its
// achieved RPO and drill a point-in-time restore of it.
func ExampleReplicator_Continuous() {
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri) // in production: a KMS or crypto/localkms
	st := cryptomem.New()
	keys, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	cipher := backup.KeyringCipher(keys, "platform")
	targets := []backup.Target{backup.NewMemoryTarget("local")}

	dir, _ := os.MkdirTemp("", "replicate")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	db, _ := sql.Open("sqlite", path+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)")
	_, _ = db.Exec("CREATE TABLE tenants (id TEXT PRIMARY KEY); INSERT INTO tenants VALUES ('acme')")

	ctx := context.Background()
	r, err := replicate.Start(ctx, path, cipher, targets, replicate.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Sync(ctx); err != nil { // the running replicator ships within SyncInterval anyway
		fmt.Println(err)
		return
	}

	src := r.Continuous("app.db")
	src.RPO = time.Minute
	src.DrillEvery = 24 * time.Hour
	src.Drill = backup.DrillOptions{ScratchDir: dir, Check: sqlitecheck.Query("SELECT 1 FROM tenants")}
	b, _ := backup.New(cipher, targets, backup.Options{})
	s, err := backup.NewScheduler(b, nil, backup.SchedulerOptions{Continuous: []backup.Continuous{src}})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.RunDue(ctx) // or s.Run(ctx, time.Minute) in the background
	status, _ := s.Status("app.db")
	fmt.Println("RPO violated:", status.RPOViolated)
	fmt.Println("drill:", status.LastDrill.Kind, "ok:", status.LastDrill.OK)

	db.Close()
	_ = r.Close(ctx)

	// Another process, which does not replicate the database, measures
	// and drills it from the targets alone.
	other := replicate.Continuous("app.db", cipher, targets, "replica/app.db/")
	other.Drill = src.Drill
	report := other.DrillAt(ctx, time.Time{}) // its newest point
	fmt.Println("from the targets:", report.Kind, "ok:", report.OK)
	// Output:
	// RPO violated: false
	// drill: point_in_time ok: true
	// from the targets: point_in_time ok: true
}
