package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// pgCluster is a scratch PostgreSQL server.
type pgCluster struct{ backuptest.PGCluster }

func (c pgCluster) open(ctx context.Context) *sqldb.DB {
	t := c.U.Testing()
	t.Helper()
	db, err := sqldb.Open(ctx, c.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgresPointInTimeRestore runs PostgreSQL's continuous backup
// for real: a scratch cluster archives its WAL through the built
// saaskit binary (archive_command = saaskit backup wal-push %p), a base
// backup is taken, rows are committed in several transactions around a
// noted time, and a restore to that time into a new data directory,
// started as a server, holds exactly the rows committed before it. A
// time before the oldest base backup is refused, clearly; a damaged
// archived segment is refused by wal-fetch, naming it; a missing one
// fails quietly, as restore_command must.
func TestPostgresPointInTimeRestore(t *testing.T) {
	bin := backuptest.PGBinDir(t)
	start := time.Now()
	ctx := context.Background()
	scratch, err := os.MkdirTemp("", "saaskit-pitr-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(scratch) })
	u := backuptest.NewPGUser(t, scratch)

	exe := filepath.Join(scratch, "saaskit")
	build := exec.Command("go", "build", "-o", exe, ".")
	built, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", built)

	// The repository: a data directory with its root keyset, and the
	// backup target, both the server's user's: it archives into them.
	const passphrase = "correct horse battery staple"
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", passphrase)
	data, target := filepath.Join(scratch, "data"), filepath.Join(scratch, "backups")
	// A cheap KDF: every archive_command and restore_command opens it.
	kms, err := localkms.New([]byte(passphrase), localkms.Options{Create: true, Time: 1, Memory: 64, Threads: 1})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(data, 0o700))
	_, err = kms.GetAEAD(localkms.NewKeyURI(filepath.Join(data, "root.keyset")))
	require.NoError(t, err)
	u.Own(scratch)
	repo := []string{"--data", data, "--target", target}
	saaskitAs := func(args ...string) (string, string, int) { return u.Run(exe, append(args, repo...)...) }

	// The cluster, archiving through saaskit.
	primary := pgCluster{backuptest.PGCluster{U: u, Bin: bin, Dir: filepath.Join(scratch, "primary"), Port: backuptest.FreePort(t)}}
	primary.Init(fmt.Sprintf(`
wal_level = replica
archive_mode = on
archive_command = '%s backup wal-push --data %s --target %s %%p'
archive_timeout = 2s
`, exe, data, target))
	primary.Start()
	t.Cleanup(primary.Stop)
	db := primary.open(ctx)
	_, err = db.ExecContext(ctx, "CREATE TABLE ledger (id int PRIMARY KEY, note text)")
	require.NoError(t, err)

	// A base backup.
	out, errOut, code := saaskitAs("backup", "base", "--dsn", primary.DSN(), "--pg-bin", bin, "--json")
	require.Zero(t, code, "backup base: %s%s\nserver log:\n%s", out, errOut, primary.Log())
	var base backup.PGBase
	require.NoError(t, json.Unmarshal([]byte(out), &base))
	assert.Equal(t, "pgbase:postgres", base.Source)
	assert.NotEmpty(t, base.StopLSN)

	// Rows in several transactions; the noted time falls between the
	// second and the third.
	insert := func(id int) {
		_, err := db.ExecContext(ctx, "INSERT INTO ledger VALUES ($1, $2)", id, fmt.Sprintf("invoice %d", id))
		require.NoError(t, err)
	}
	insert(1)
	insert(2)
	var noted time.Time
	require.NoError(t, db.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&noted))
	insert(3)
	insert(4)
	lastSeg := primary.SwitchWAL(ctx, db)

	out, errOut, code = saaskitAs("backup", "wal-status", "--json")
	require.Zero(t, code, errOut)
	var status walStatusOut
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	require.Len(t, status.Bases, 1)
	assert.Equal(t, base.ID, status.Bases[0].ID)
	require.NotEmpty(t, status.WAL.Ranges)
	assert.GreaterOrEqual(t, status.WAL.Newest, lastSeg)
	assert.Len(t, status.WAL.Ranges, 1, "no gap: %+v", status.WAL.Ranges)
	assert.Positive(t, status.WAL.RPO)
	primary.Stop()

	// A time before the oldest base backup: a clear error, no directory.
	early := filepath.Join(scratch, "early")
	_, errOut, code = saaskitAs("backup", "restore", "--pgdata", early, "--at", base.Started.Add(-time.Hour).Format(time.RFC3339Nano))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "the oldest base backup, "+base.ID)
	assert.NoDirExists(t, early)

	// Restore to the noted time, into a new data directory, and start
	// a server there.
	restored := pgCluster{backuptest.PGCluster{U: u, Bin: bin, Dir: filepath.Join(scratch, "restored"), Port: backuptest.FreePort(t)}}
	restoreStart := time.Now()
	out, errOut, code = saaskitAs("backup", "restore", "--pgdata", restored.Dir, "--at", noted.Format(time.RFC3339Nano), "--json")
	require.Zero(t, code, "restore: %s%s", out, errOut)
	var res backup.PGRestored
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, base.ID, res.Base.ID)
	assert.FileExists(t, filepath.Join(restored.Dir, "recovery.signal"))
	autoConf, err := os.ReadFile(filepath.Join(restored.Dir, "postgresql.auto.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(autoConf), "recovery_target_action = 'promote'")
	assert.Contains(t, string(autoConf), "backup wal-fetch")

	// Into a directory that is not empty: refused.
	_, errOut, code = saaskitAs("backup", "restore", "--pgdata", restored.Dir, "--at", noted.Format(time.RFC3339Nano))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "not empty")

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the primary's log:\n%s\nthe restored server's log:\n%s", primary.Log(), restored.Log())
		}
	})
	restored.Start()
	t.Cleanup(restored.Stop)
	rdb := restored.open(ctx)
	await.True(t, func() bool {
		var inRecovery bool
		err := rdb.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
		return err == nil && !inRecovery
	}, "the restored server to finish recovery")
	rows, err := rdb.QueryContext(ctx, "SELECT id FROM ledger ORDER BY id")
	require.NoError(t, err)
	var ids []int
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []int{1, 2}, ids, "the rows committed before %s", noted.Format(time.RFC3339Nano))
	t.Logf("restore to the noted time and recovery took %s; the whole test %s", time.Since(restoreStart).Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	restored.Stop()

	// wal-fetch: a missing file fails quietly; a damaged one is refused,
	// naming it, and nothing is written.
	dest := filepath.Join(scratch, "fetched")
	_, errOut, code = saaskitAs("backup", "wal-fetch", "0000000900000000000000FF", dest)
	assert.Equal(t, exitFailed, code)
	assert.Empty(t, errOut)
	_, errOut, code = saaskitAs("backup", "wal-fetch", lastSeg, dest)
	require.Zero(t, code, errOut)
	obj := filepath.Join(target, "wal", lastSeg)
	b, err := os.ReadFile(obj)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(obj, b, 0o600))
	require.NoError(t, os.Remove(dest))
	_, errOut, code = saaskitAs("backup", "wal-fetch", lastSeg, dest)
	assert.Equal(t, exitBad, code)
	assert.Contains(t, errOut, lastSeg)
	assert.NoFileExists(t, dest)
}

// TestWALCommands runs wal-push, wal-fetch and wal-status in process,
// on files of the names PostgreSQL archives, with the repository from
// the environment as archive_command may have it.
func TestWALCommands(t *testing.T) {
	// A cheap KDF: every command opens the root keyset.
	data := t.TempDir()
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "correct horse battery staple")
	kms, err := localkms.New([]byte("correct horse battery staple"), localkms.Options{Create: true, Time: 1, Memory: 64, Threads: 1})
	require.NoError(t, err)
	_, err = kms.GetAEAD(localkms.NewKeyURI(filepath.Join(data, "root.keyset")))
	require.NoError(t, err)
	t.Setenv("SAASKIT_DATABASE_URL", "")
	t.Setenv("SAASKIT_DATA", data)
	t.Setenv("SAASKIT_BACKUP_TARGET", filepath.Join(t.TempDir(), "repo"))
	dir := t.TempDir()
	seg := filepath.Join(dir, "000000010000000000000003")
	content := bytes.Repeat([]byte("wal record "), 100_000)
	require.NoError(t, os.WriteFile(seg, content, 0o600))

	_, err = saaskit(t, "backup", "wal-push", seg)
	require.NoError(t, err)
	_, err = saaskit(t, "backup", "wal-push", seg)
	require.NoError(t, err, "pushed again with the same content")
	require.NoError(t, os.WriteFile(seg, []byte("other"), 0o600))
	_, err = saaskit(t, "backup", "wal-push", seg)
	assert.ErrorIs(t, err, backup.ErrExists)
	_, err = saaskit(t, "backup", "wal-push", filepath.Join(dir, "postgresql.conf"))
	assert.Equal(t, exitFailed, exitCode(err))

	dest := filepath.Join(dir, "RECOVERYXLOG")
	_, err = saaskit(t, "backup", "wal-fetch", "000000010000000000000003", dest)
	require.NoError(t, err)
	got, err := os.ReadFile(dest)
	require.NoError(t, err)
	assert.Equal(t, content, got)
	_, err = saaskit(t, "backup", "wal-fetch", "00000002.history", dest)
	assert.Equal(t, exitFailed, exitCode(err))
	assert.True(t, isQuiet(err), "a missing file fails quietly: %v", err)
	_, err = saaskit(t, "backup", "wal-fetch", "000000010000000000000003")
	assert.Equal(t, exitUsage, exitCode(err))

	out, err := saaskit(t, "backup", "wal-status")
	require.NoError(t, err)
	assert.Contains(t, out, "newest segment 000000010000000000000003")

	_, err = saaskit(t, "backup", "restore", "--pgdata", filepath.Join(dir, "pg"), "--at", "yesterday")
	assert.Equal(t, exitUsage, exitCode(err))
	_, err = saaskit(t, "backup", "restore", "--pgdata", filepath.Join(dir, "pg"))
	assert.Equal(t, exitUsage, exitCode(err))
	_, err = saaskit(t, "backup", "restore", "--pgdata", filepath.Join(dir, "pg"), "--at", time.Now().Format(time.RFC3339))
	assert.ErrorContains(t, err, "no PostgreSQL base backup")
	_, err = saaskit(t, "backup", "base")
	assert.Equal(t, exitUsage, exitCode(err), "base without a DSN")

	assert.Equal(t, `'/a b/it'\''s'`, shellQuote("/a b/it's"))
	assert.Equal(t, "/srv/saaskit", shellQuote("/srv/saaskit"))
}
