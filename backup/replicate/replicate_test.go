package replicate_test

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

func newCipher(t *testing.T) backup.Cipher {
	t.Helper()
	st := cryptomem.New()
	k, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), st, st, skcrypto.Options{})
	require.NoError(t, err)
	return backup.KeyringCipher(k, "platform")
}

// openApp opens the application's own connection pool to a new SQLite
// database in WAL mode, as Start asks, with a table of rows.
func openApp(t *testing.T, path string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), "sqlite:"+path+"?_pragma=wal_autocheckpoint(0)")
	require.NoError(t, err)
	require.NoError(t, replicate.CheckConnections(context.Background(), db.DB))
	_, err = db.Exec("CREATE TABLE rows (n INTEGER PRIMARY KEY)")
	require.NoError(t, err)
	return db
}

func insert(t *testing.T, db *sqldb.DB, from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		_, err := db.Exec("INSERT INTO rows (n) VALUES (?)", n)
		require.NoError(t, err)
	}
}

func rowsIn(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM rows").Scan(&n))
	return n
}

// afterNow returns a time after every LTX file written so far, once the
// clock has moved past it (LTX times are in milliseconds).
func afterNow() time.Time {
	at := time.Now()
	for time.Now().UnixMilli() <= at.UnixMilli()+1 {
		time.Sleep(time.Millisecond)
	}
	return at
}

// TestPointInTimeRestore: the application writes through its own pool
// while the database replicates; a restore to a moment between two
// batches holds exactly the first, a restore to the latest holds both,
// and a moment outside the window is refused, naming it.
func TestPointInTimeRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	app := openApp(t, path)
	cipher := newCipher(t)
	target := backup.NewMemoryTarget("mem")
	disk, err := backup.NewDirTarget(filepath.Join(dir, "backups"))
	require.NoError(t, err)
	targets := []backup.Target{target, disk}
	r, err := replicate.Start(ctx, path, cipher, targets, replicate.Options{Logger: quiet})
	require.NoError(t, err)

	insert(t, app, 0, 100)
	require.NoError(t, r.Sync(ctx))
	between := afterNow()
	insert(t, app, 100, 250)
	require.NoError(t, r.Sync(ctx))
	lag, err := r.Lag()
	require.NoError(t, err)
	assert.Zero(t, lag, "synced")
	require.NoError(t, app.Close())
	require.NoError(t, r.Close(ctx))

	names, err := target.List(ctx, "replica/app.db/")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for _, name := range names {
		rc, err := target.Get(ctx, name)
		require.NoError(t, err)
		stored, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		assert.NotContains(t, string(stored), "SQLite format 3", "%s is stored in the clear", name)
	}

	w, err := replicate.Points(ctx, cipher, targets, "replica/app.db/")
	require.NoError(t, err)
	assert.True(t, w.Oldest.Before(between) && w.Newest.After(between), "window %v to %v, between %v", w.Oldest, w.Newest, between)

	at := filepath.Join(dir, "at.db")
	require.NoError(t, replicate.Restore(ctx, cipher, targets, "replica/app.db/", at, between))
	assert.Equal(t, 100, rowsIn(t, at), "restored to the moment between the batches")
	latest := filepath.Join(dir, "latest.db")
	require.NoError(t, replicate.Restore(ctx, cipher, []backup.Target{disk}, "replica/app.db/", latest, time.Time{}))
	assert.Equal(t, 250, rowsIn(t, latest), "restored to the latest, from the directory")

	err = replicate.Restore(ctx, cipher, targets, "replica/app.db/", filepath.Join(dir, "early.db"), w.Oldest.Add(-time.Hour))
	assert.ErrorContains(t, err, "outside the restore window")
	err = replicate.Restore(ctx, cipher, targets, "replica/app.db/", filepath.Join(dir, "late.db"), w.Newest.Add(time.Hour))
	assert.ErrorContains(t, err, "outside the restore window")
	_, err = replicate.Points(ctx, cipher, targets, "replica/other.db/")
	assert.ErrorIs(t, err, backup.ErrNotFound)
	_, err = os.Stat(filepath.Join(dir, "early.db"))
	assert.True(t, os.IsNotExist(err), "a refused restore writes nothing")
}

// TestTamperedReplicaIsRefused: a flipped byte in a replicated object
// fails the restore rather than giving back wrong data.
func TestTamperedReplicaIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	app := openApp(t, path)
	cipher := newCipher(t)
	target := backup.NewMemoryTarget("mem")
	r, err := replicate.Start(ctx, path, cipher, []backup.Target{target}, replicate.Options{Logger: quiet})
	require.NoError(t, err)
	insert(t, app, 0, 50)
	require.NoError(t, r.Sync(ctx))
	require.NoError(t, app.Close())
	require.NoError(t, r.Close(ctx))

	names, err := target.List(ctx, "replica/app.db/")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for _, name := range names {
		target.Tamper(name, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	}
	err = replicate.Restore(ctx, cipher, []backup.Target{target}, "replica/app.db/", filepath.Join(dir, "out.db"), time.Time{})
	require.Error(t, err)
}

// TestCheckConnections: an application handle that checkpoints on its
// own, or a database not in WAL mode, is named as such.
func TestCheckConnections(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	checkpointing, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "a.db"))
	require.NoError(t, err)
	defer checkpointing.Close()
	err = replicate.CheckConnections(ctx, checkpointing.DB)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wal_autocheckpoint(0)")

	rollback, err := sql.Open("sqlite", filepath.Join(dir, "b.db"))
	require.NoError(t, err)
	defer rollback.Close()
	err = replicate.CheckConnections(ctx, rollback)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `journal_mode is "delete"`)
}
