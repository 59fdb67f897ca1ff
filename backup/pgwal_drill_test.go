package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// TestPostgresDrill drills point-in-time restores of a real scratch
// cluster: its WAL archived (archive_command copies each file, and the
// test pushes it, as wal-push would), a base backup taken, rows
// committed around a noted time. A drill to the noted time finds
// exactly the rows committed before it, a drill to the newest point
// all of them, both through a Scheduler's status with their RTO; a
// check that fails fails the drill, and no server is left running.
func TestPostgresDrill(t *testing.T) {
	bin := backuptest.PGBinDir(t)
	ctx := context.Background()
	scratch, err := os.MkdirTemp("", "saaskit-pgdrill-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(scratch) })
	u := backuptest.NewPGUser(t, scratch)
	archive := filepath.Join(scratch, "archive")
	require.NoError(t, os.MkdirAll(archive, 0o700))
	drills := filepath.Join(scratch, "drills")
	require.NoError(t, os.MkdirAll(drills, 0o700))
	u.Own(scratch)

	primary := backuptest.PGCluster{U: u, Bin: bin, Dir: filepath.Join(scratch, "primary"), Port: backuptest.FreePort(t)}
	primary.Init(fmt.Sprintf("wal_level = replica\narchive_mode = on\narchive_command = 'cp %%p %s/%%f'\n", archive))
	primary.Start()
	t.Cleanup(primary.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the primary's log:\n%s", primary.Log())
		}
	})
	db, err := sqldb.Open(ctx, primary.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	keys, _ := newKeyring(t)
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("mem")}, backup.Options{})
	require.NoError(t, err)
	// push archives what the server archived so far, as wal-push does.
	push := func() {
		entries, err := os.ReadDir(archive)
		require.NoError(t, err)
		for _, e := range entries {
			require.NoError(t, b.PushWAL(ctx, filepath.Join(archive, e.Name())))
		}
	}
	_, err = db.ExecContext(ctx, "CREATE TABLE ledger (id int PRIMARY KEY)")
	require.NoError(t, err)
	_, err = b.PostgresBaseBackup(ctx, primary.DSN(), backup.PGBaseOptions{BinDir: bin})
	require.NoError(t, err)
	push()
	insert := func(id int) {
		_, err := db.ExecContext(ctx, "INSERT INTO ledger VALUES ($1)", id)
		require.NoError(t, err)
	}
	insert(1)
	insert(2)
	var noted time.Time
	require.NoError(t, db.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&noted))
	insert(3)
	insert(4)
	primary.SwitchWAL(ctx, db)
	push()

	// count fails unless the ledger holds n rows.
	count := func(n int) string {
		return fmt.Sprintf("SELECT 1 / (CASE WHEN count(*) = %d THEN 1 ELSE 0 END) FROM ledger", n)
	}
	drill := func(query string) backup.Continuous {
		return backup.Continuous{Name: "postgres", Newest: b.NewestWAL, RPO: time.Hour, DrillEvery: time.Hour,
			Drill:   backup.DrillOptions{ScratchDir: drills},
			Restore: b.PostgresDrill(backup.PGDrillOptions{BinDir: bin, RunAs: u.OS, Query: query})}
	}

	// To the noted time: the rows committed before it.
	r := drill(count(2)).DrillAt(ctx, noted)
	require.True(t, r.OK, r.Error)
	assert.Equal(t, backup.DrillPointInTime, r.Kind)
	assert.True(t, noted.Equal(r.Point))
	assert.Positive(t, r.Duration)
	assert.Positive(t, r.Bytes)
	t.Logf("point-in-time drill to the noted time: RTO %s, %d bytes", r.Duration.Round(time.Millisecond), r.Bytes)

	// A check that fails fails the drill, naming it.
	r = drill(count(3)).DrillAt(ctx, noted)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "check of the restored server")
	assert.Contains(t, r.Error, "division by zero")

	// A Scheduler drills the newest point: every row.
	s, err := backup.NewScheduler(b, nil, backup.SchedulerOptions{Continuous: []backup.Continuous{drill(count(4))}})
	require.NoError(t, err)
	s.RunDue(ctx)
	st, ok := s.Status("postgres")
	require.True(t, ok)
	require.NotNil(t, st.LastDrill)
	require.True(t, st.LastDrill.OK, st.LastDrill.Error)
	assert.Equal(t, backup.DrillPointInTime, st.LastDrill.Kind)
	assert.Positive(t, st.LastDrill.Duration)
	t.Logf("point-in-time drill to the newest point: RTO %s", st.LastDrill.Duration.Round(time.Millisecond))

	// Nothing is left: no scratch directory, no server.
	left, err := os.ReadDir(drills)
	require.NoError(t, err)
	assert.Empty(t, left)
}
