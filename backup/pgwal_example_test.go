package backup_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/backup"
)

// Continuous PostgreSQL backup: archive_command pushes each WAL file, a
// base backup is taken now and then, and a restore to a point in time
// extracts the newest base backup before it and lets PostgreSQL replay
// the archived WAL up to it. (Compiled, not run: it needs a server.)
func ExampleBackups_RestorePostgres() {
	var b *backup.Backups // backup.New(backup.KeyringCipher(keys, "platform"), targets, backup.Options{})
	ctx := context.Background()

	// archive_command = 'saaskit backup wal-push %p' calls:
	if err := b.PushWAL(ctx, "pg_wal/000000010000000000000002"); err != nil {
		fmt.Println(err) // nonzero exit: PostgreSQL keeps the file and retries
	}

	// Nightly: a base backup.
	base, err := b.PostgresBaseBackup(ctx, "postgres://backup@db.internal/postgres", backup.PGBaseOptions{Name: "main"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("base backup", base.ID, "from", base.StartLSN, "to", base.StopLSN)

	// The RPO achieved: how old is the newest archived segment.
	st, err := b.WALStatus(ctx)
	if err == nil {
		fmt.Println("newest WAL", st.Newest, "archived", st.RPO, "ago")
	}

	// After an accident at 14:05: back to 14:04 in a new data directory.
	at := time.Date(2026, 11, 27, 14, 4, 0, 0, time.UTC)
	res, err := b.RestorePostgres(ctx, "/srv/pg/restored", at, backup.PGRestoreOptions{
		RestoreCommand: "saaskit backup wal-fetch --data /srv/saaskit %f %p", // calls b.FetchWAL
	})
	if err != nil {
		fmt.Println(err) // errors.Is(err, backup.ErrTooEarly): before the oldest base backup
		return
	}
	fmt.Println("start PostgreSQL on", res.DataDir, "to recover to", res.Target)
}
