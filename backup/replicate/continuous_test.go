package replicate_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	"github.com/saaskit/saaskit/internal/await"
)

// TestReplicatorNewest: after a Sync, the newest point is no earlier
// than the Sync's start; while the database has no writes, it keeps up
// with the clock past the newest change shipped, and a restore to such
// a point gives the latest state (the package's Restore, which cannot
// know nothing changed, refuses it); a point-in-time drill restores and
// checks the database.
func TestReplicatorNewest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	app := openApp(t, path)
	cipher := newCipher(t)
	targets := []backup.Target{backup.NewMemoryTarget("mem")}
	r, err := replicate.Start(ctx, path, cipher, targets, replicate.Options{SyncInterval: 20 * time.Millisecond, Logger: quiet})
	require.NoError(t, err)

	insert(t, app, 0, 100)
	before := time.Now()
	require.NoError(t, r.Sync(ctx))
	newest, err := r.Newest(ctx)
	require.NoError(t, err)
	assert.False(t, newest.Before(before), "newest %v, sync started %v", newest, before)
	assert.False(t, newest.After(time.Now()))

	// Idle: the newest point passes the newest change shipped.
	w, err := replicate.Points(ctx, cipher, targets, "replica/app.db/")
	require.NoError(t, err)
	await.True(t, func() bool {
		newest, err = r.Newest(ctx)
		return err == nil && newest.After(w.Newest.Add(time.Millisecond))
	}, "the newest point of an idle database to pass its newest change, %v", w.Newest)
	err = replicate.Restore(ctx, cipher, targets, "replica/app.db/", filepath.Join(dir, "refused.db"), newest)
	assert.ErrorContains(t, err, "outside the restore window")
	latest := filepath.Join(dir, "latest.db")
	require.NoError(t, r.Restore(ctx, newest, latest))
	assert.Equal(t, 100, rowsIn(t, latest))

	c := r.Continuous("app.db")
	c.Drill = backup.DrillOptions{ScratchDir: dir, Check: sqlitecheck.Query("SELECT 1 FROM rows WHERE n = 99")}
	rep := c.DrillAt(ctx, time.Time{})
	assert.True(t, rep.OK, rep.Error)
	assert.Equal(t, backup.DrillPointInTime, rep.Kind)
	assert.Positive(t, rep.Bytes)

	// Another process's view, once replication stopped: the newest
	// change on the targets.
	require.NoError(t, app.Close())
	require.NoError(t, r.Close(ctx))
	w, err = replicate.Points(ctx, cipher, targets, "replica/app.db/")
	require.NoError(t, err)
	offline := replicate.Continuous("app.db", cipher, targets, "replica/app.db/")
	got, err := offline.Newest(ctx)
	require.NoError(t, err)
	assert.Equal(t, w.Newest, got)
	rep = offline.DrillAt(ctx, got)
	assert.True(t, rep.OK, rep.Error)

	_, err = replicate.Continuous("other.db", cipher, targets, "replica/other.db/").Newest(ctx)
	assert.ErrorIs(t, err, backup.ErrNotFound)
}
