package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// pgBinDir finds the installed PostgreSQL server programs: the newest
// /usr/lib/postgresql/*/bin, else pg_config --bindir. Without them the
// test is skipped, or fails when SAASKIT_REQUIRE_POSTGRES_BINARIES=1.
func pgBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if os.Getenv("SAASKIT_REQUIRE_POSTGRES_BINARIES") == "1" {
		t.Fatal("no PostgreSQL server programs (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or pg_config --bindir, and SAASKIT_REQUIRE_POSTGRES_BINARIES=1")
	}
	t.Skip("no PostgreSQL server programs installed (initdb, pg_ctl in /usr/lib/postgresql/*/bin or pg_config --bindir): skipping the point-in-time restore test")
	return ""
}

// pgUser runs PostgreSQL's programs: as the postgres OS user when the
// test runs as root (PostgreSQL refuses root), else as the test's.
type pgUser struct {
	t       *testing.T
	asOther bool
	uid     int
	gid     int
	dir     string
}

func newPGUser(t *testing.T, dir string) pgUser {
	u := pgUser{t: t, dir: dir}
	if os.Geteuid() != 0 {
		return u
	}
	pu, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("running as root and there is no postgres OS user to run PostgreSQL as: skipping")
	}
	u.asOther = true
	u.uid, _ = strconv.Atoi(pu.Uid)
	u.gid, _ = strconv.Atoi(pu.Gid)
	return u
}

// command is name args run as the user, in the scratch directory.
func (u pgUser) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if u.asOther {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = u.dir
	return cmd
}

// run runs name args and returns stdout, stderr and the exit status.
func (u pgUser) run(name string, args ...string) (string, string, int) {
	cmd := u.command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	}
	u.t.Fatalf("%s: %v", name, err)
	return "", "", -1
}

// must runs name args, which must succeed, and returns stdout.
func (u pgUser) must(name string, args ...string) string {
	u.t.Helper()
	out, errOut, code := u.run(name, args...)
	require.Zero(u.t, code, "%s %v: %s%s", name, args, out, errOut)
	return out
}

// own gives the user everything under dir.
func (u pgUser) own(dir string) {
	u.t.Helper()
	if !u.asOther {
		return
	}
	require.NoError(u.t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	}))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pgCluster is a scratch PostgreSQL server.
type pgCluster struct {
	u    pgUser
	bin  string
	dir  string
	port int
}

func (c pgCluster) start() {
	c.u.t.Helper()
	c.u.must(filepath.Join(c.bin, "pg_ctl"), "-D", c.dir, "-l", c.dir+".log", "-w", "-t", "120", "-o", fmt.Sprintf("-p %d", c.port), "start")
}

func (c pgCluster) stop() {
	_, _, _ = c.u.run(filepath.Join(c.bin, "pg_ctl"), "-D", c.dir, "-m", "fast", "-w", "stop")
}

func (c pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c pgCluster) open(ctx context.Context) *sqldb.DB {
	c.u.t.Helper()
	db, err := sqldb.Open(ctx, c.dsn())
	require.NoError(c.u.t, err)
	c.u.t.Cleanup(func() { db.Close() })
	return db
}

func (c pgCluster) log() string {
	b, _ := os.ReadFile(c.dir + ".log")
	return string(b)
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
	bin := pgBinDir(t)
	start := time.Now()
	ctx := context.Background()
	scratch, err := os.MkdirTemp("", "saaskit-pitr-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(scratch) })
	u := newPGUser(t, scratch)

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
	u.own(scratch)
	repo := []string{"--data", data, "--target", target}
	saaskitAs := func(args ...string) (string, string, int) { return u.run(exe, append(args, repo...)...) }

	// The cluster, archiving through saaskit.
	primary := pgCluster{u: u, bin: bin, dir: filepath.Join(scratch, "primary"), port: freePort(t)}
	u.must(filepath.Join(bin, "initdb"), "-D", primary.dir, "-A", "trust", "-U", "postgres", "--no-sync")
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
wal_level = replica
archive_mode = on
archive_command = '%s backup wal-push --data %s --target %s %%p'
archive_timeout = 2s
fsync = off
log_line_prefix = '%%m [%%p] '
`, scratch, exe, data, target)
	f, err := os.OpenFile(filepath.Join(primary.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(conf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	primary.start()
	t.Cleanup(primary.stop)
	db := primary.open(ctx)
	_, err = db.ExecContext(ctx, "CREATE TABLE ledger (id int PRIMARY KEY, note text)")
	require.NoError(t, err)

	// archived waits until the segment in use now is archived.
	archived := func(db *sqldb.DB) string {
		t.Helper()
		var seg string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg))
		await.True(t, func() bool {
			var last string
			var failed int64
			require.NoError(t, db.QueryRowContext(ctx,
				"SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver").Scan(&last, &failed))
			require.Zero(t, failed, "archive_command failed; server log:\n%s", primary.log())
			return last >= seg
		}, "segment %s archived", seg)
		return seg
	}

	// A base backup.
	out, errOut, code := saaskitAs("backup", "base", "--dsn", primary.dsn(), "--pg-bin", bin, "--json")
	require.Zero(t, code, "backup base: %s%s\nserver log:\n%s", out, errOut, primary.log())
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
	lastSeg := archived(db)

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
	primary.stop()

	// A time before the oldest base backup: a clear error, no directory.
	early := filepath.Join(scratch, "early")
	_, errOut, code = saaskitAs("backup", "restore", "--pgdata", early, "--at", base.Started.Add(-time.Hour).Format(time.RFC3339Nano))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "the oldest base backup, "+base.ID)
	assert.NoDirExists(t, early)

	// Restore to the noted time, into a new data directory, and start
	// a server there.
	restored := pgCluster{u: u, bin: bin, dir: filepath.Join(scratch, "restored"), port: freePort(t)}
	restoreStart := time.Now()
	out, errOut, code = saaskitAs("backup", "restore", "--pgdata", restored.dir, "--at", noted.Format(time.RFC3339Nano), "--json")
	require.Zero(t, code, "restore: %s%s", out, errOut)
	var res backup.PGRestored
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, base.ID, res.Base.ID)
	assert.FileExists(t, filepath.Join(restored.dir, "recovery.signal"))
	autoConf, err := os.ReadFile(filepath.Join(restored.dir, "postgresql.auto.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(autoConf), "recovery_target_action = 'promote'")
	assert.Contains(t, string(autoConf), "backup wal-fetch")

	// Into a directory that is not empty: refused.
	_, errOut, code = saaskitAs("backup", "restore", "--pgdata", restored.dir, "--at", noted.Format(time.RFC3339Nano))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "not empty")

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the primary's log:\n%s\nthe restored server's log:\n%s", primary.log(), restored.log())
		}
	})
	restored.start()
	t.Cleanup(restored.stop)
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
	restored.stop()

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
