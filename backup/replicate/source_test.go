package replicate_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// TestSnapshotByChangedPages: snapshots of a replicated database taken
// through Replicator.Source read, after the first, only around the
// pages its change sets name; each restores to the database as it was,
// page for page (the file SQLite itself reads back), and holds the
// rows; what a plain snapshot of the same bytes stores is nothing new.
func TestSnapshotByChangedPages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db, err := sqldb.Open(ctx, "sqlite:"+path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, body BLOB NOT NULL)")
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	body := func() []byte {
		b := make([]byte, 3000)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	const rows = 4000 // about 16 MiB
	tx, err := db.Begin()
	require.NoError(t, err)
	for n := range rows {
		_, err := tx.Exec("INSERT INTO rows (n, body) VALUES (?, ?)", n, body())
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())

	cipher := newCipher(t)
	replica := backup.NewMemoryTarget("replica")
	r, err := replicate.Start(ctx, path, cipher, []backup.Target{replica}, replicate.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer r.Close(ctx)
	repo, err := backup.OpenRepository(ctx, cipher, []backup.Target{backup.NewMemoryTarget("snapshots")},
		backup.RepositoryOptions{PackSize: 4 << 20, CacheDir: t.TempDir()})
	require.NoError(t, err)
	src := r.Source("app.db", db.DB)
	extra := 0 // rows inserted after the first snapshot

	// restored checks a snapshot against the database now, and returns
	// the restored bytes.
	restored := func(info *backup.SnapshotInfo) []byte {
		var out bytes.Buffer
		require.NoError(t, repo.RestoreSnapshot(ctx, info.ID, &out))
		rc, err := src.Open(ctx)
		require.NoError(t, err)
		var now bytes.Buffer
		_, err = now.ReadFrom(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.True(t, bytes.Equal(now.Bytes(), out.Bytes()), "page for page")
		p := filepath.Join(t.TempDir(), "restored.db")
		require.NoError(t, os.WriteFile(p, out.Bytes(), 0o600))
		rdb, err := sqldb.Open(ctx, "sqlite:"+p)
		require.NoError(t, err)
		defer rdb.Close()
		var n int
		require.NoError(t, rdb.QueryRow("SELECT count(*) FROM rows").Scan(&n))
		assert.Equal(t, rows+extra, n)
		var check string
		require.NoError(t, rdb.QueryRow("PRAGMA integrity_check").Scan(&check))
		assert.Equal(t, "ok", check)
		return out.Bytes()
	}

	first, err := repo.Snapshot(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, first.Size, first.ReadBytes, "no parent: every page")
	restored(first)

	for round := range 3 {
		for range 3 {
			n := rng.IntN(rows)
			_, err := db.Exec("UPDATE rows SET body = ? WHERE n = ?", body(), n)
			require.NoError(t, err)
		}
		_, err = db.Exec("INSERT INTO rows (n, body) VALUES (?, ?)", rows+round, body())
		require.NoError(t, err)
		extra++
		info, err := repo.Snapshot(ctx, src)
		require.NoError(t, err)
		assert.Equal(t, round+1, info.Trusted, "taken by change list")
		assert.Less(t, info.ReadBytes, info.Size/2, "read around the changed pages")
		t.Logf("round %d: read %d of %d bytes", round, info.ReadBytes, info.Size)
		data := restored(info)
		plain, err := repo.Snapshot(ctx, backup.ReaderSource("plain", func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}))
		require.NoError(t, err)
		assert.Zero(t, plain.NewChunks, "the chunks chunking it all gives")
	}
	_, err = repo.VerifySnapshots(ctx, 1)
	require.NoError(t, err)
}
