package replicate_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// The crash test's writer runs in a child process (this test binary,
// run again with these variables set) so that it can be SIGKILLed.
const (
	envWriterDB  = "SAASKIT_REPLICATE_WRITER_DB"
	envWriterDir = "SAASKIT_REPLICATE_WRITER_TARGET"
)

// TestMain runs the writer when asked to, and the tests otherwise.
func TestMain(m *testing.M) {
	if path := os.Getenv(envWriterDB); path != "" {
		if err := writer(path, os.Getenv(envWriterDir)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	replicate.CleanupBenchFixtures()
	os.Exit(code)
}

// writer replicates the database at path to the directory target,
// with a cipher whose key it reads from the same directory, and
// inserts rows one transaction each, printing each committed row's
// number, until it is killed.
func writer(path, dir string) error {
	ctx := context.Background()
	target, err := backup.NewDirTarget(dir)
	if err != nil {
		return err
	}
	cipher, err := fileCipher(filepath.Join(dir, "..", "key"))
	if err != nil {
		return err
	}
	app, err := sqldb.Open(ctx, "sqlite:"+path+"?_pragma=wal_autocheckpoint(0)") // as Start asks
	if err != nil {
		return err
	}
	if err := replicate.CheckConnections(ctx, app.DB); err != nil {
		return err
	}
	if _, err := app.Exec("CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY)"); err != nil {
		return err
	}
	if _, err := replicate.Start(ctx, path, cipher, []backup.Target{target}, replicate.Options{SyncInterval: 50 * time.Millisecond, Logger: quiet}); err != nil {
		return err
	}
	var n int
	if err := app.QueryRow("SELECT coalesce(max(n), -1) + 1 FROM rows").Scan(&n); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	for ; ; n++ {
		if _, err := app.Exec("INSERT INTO rows (n) VALUES (?)", n); err != nil {
			return err
		}
		fmt.Fprintln(out, n)
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// TestKilledWriterLosesNothing SIGKILLs a process that writes and
// replicates, mid-write, several times over. Each time, replication
// resumes when a replicator starts again on the database, and a
// restore to the latest point holds every row the database holds,
// which includes every row the writer reported committed.
func TestKilledWriterLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path, targetDir := filepath.Join(dir, "app.db"), filepath.Join(dir, "target")
	require.NoError(t, os.Mkdir(targetDir, 0o700))
	cipher, err := fileCipher(filepath.Join(dir, "key"))
	require.NoError(t, err)
	committed := -1
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envWriterDB+"="+path, envWriterDir+"="+targetDir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(stdout)
		// Kill after a few hundred commits, counted, not timed.
		for i := 0; i < 300+100*round && lines.Scan(); i++ {
			n, err := strconv.Atoi(lines.Text())
			require.NoError(t, err)
			committed = n
		}
		require.NoError(t, cmd.Process.Kill())
		for lines.Scan() { // rows committed before the kill landed
			if n, err := strconv.Atoi(lines.Text()); err == nil {
				committed = n
			}
		}
		_ = cmd.Wait()
		t.Logf("round %d: killed after row %d", round, committed)
	}

	// A replicator started again ships what the killed one had not.
	target, err := backup.NewDirTarget(targetDir)
	require.NoError(t, err)
	r, err := replicate.Start(ctx, path, cipher, []backup.Target{target}, replicate.Options{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, r.Sync(ctx))
	require.NoError(t, r.Close(ctx))
	restored := filepath.Join(dir, "restored.db")
	require.NoError(t, replicate.Restore(ctx, cipher, []backup.Target{target}, "replica/app.db/", restored, time.Time{}))
	// A row can commit just before the kill and go unreported: the
	// restore must hold every row of the database, which holds at least
	// every row reported.
	local := rowsIn(t, path)
	assert.GreaterOrEqual(t, local, committed+1, "rows 0 to %d were committed", committed)
	assert.Equal(t, local, rowsIn(t, restored), "the restore lost committed rows")
}
