package backup_test

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/testclock"
)

// walFile writes a file named name of size random bytes (from seed).
func walFile(t *testing.T, dir, name string, size int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, size)
	for i := range data[:size/2] { // half random, half zeros, as segments are
		data[i] = byte(rng.IntN(256))
	}
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// TestWALPushFetch archives WAL files to two targets and fetches them
// back byte for byte; a push is idempotent for the same content and
// refused for other content; a renamed, damaged or missing object is
// refused, naming the file.
func TestWALPushFetch(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	mem := backup.NewMemoryTarget("mem")
	dir, err := backup.NewDirTarget(t.TempDir())
	require.NoError(t, err)
	clock := testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{mem, dir}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	src, dst := t.TempDir(), t.TempDir()

	const seg1, seg2 = "000000010000000000000001", "000000010000000000000002"
	p1 := walFile(t, src, seg1, 16<<20, 1)
	p2 := walFile(t, src, seg2, 1<<20+3, 2)
	hist := walFile(t, src, "00000002.history", 42, 3)
	for _, p := range []string{p1, p2, hist} {
		require.NoError(t, b.PushWAL(ctx, p))
	}
	for _, name := range []string{seg1, seg2, "00000002.history"} {
		out := filepath.Join(dst, "RECOVERYXLOG")
		require.NoError(t, b.FetchWAL(ctx, name, out))
		want, _ := os.ReadFile(filepath.Join(src, name))
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	// Pushed again: same content is success, other content an error.
	require.NoError(t, b.PushWAL(ctx, p1))
	other := walFile(t, t.TempDir(), seg1, 16<<20, 9)
	err = b.PushWAL(ctx, other)
	assert.ErrorIs(t, err, backup.ErrExists)
	assert.ErrorContains(t, err, seg1)

	// A target that lacks a file gets it on the next push.
	require.NoError(t, dir.Delete(ctx, "wal/"+seg2))
	require.NoError(t, b.PushWAL(ctx, p2))
	names, err := dir.List(ctx, "wal/")
	require.NoError(t, err)
	assert.Contains(t, names, "wal/"+seg2)

	// Not archived anywhere: ErrNotFound, nothing written.
	err = b.FetchWAL(ctx, "000000010000000000000009", filepath.Join(dst, "x"))
	assert.ErrorIs(t, err, backup.ErrNotFound)
	assert.NoFileExists(t, filepath.Join(dst, "x"))

	// A segment renamed on the targets is refused: its encryption is
	// bound to its name.
	only := func(target backup.Target) *backup.Backups {
		bb, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{target}, backup.Options{})
		require.NoError(t, err)
		return bb
	}
	m := only(mem)
	data := readAll(t, mem, "wal/"+seg1)
	require.NoError(t, mem.Delete(ctx, "wal/"+seg2))
	mem.Tamper("wal/"+seg2, func([]byte) []byte { return data })
	err = m.FetchWAL(ctx, seg2, filepath.Join(dst, "renamed"))
	assert.ErrorIs(t, err, backup.ErrCorrupt)
	assert.ErrorContains(t, err, seg2)
	assert.NoFileExists(t, filepath.Join(dst, "renamed"))

	// A damaged segment is refused, naming it; another target's intact
	// copy is used instead.
	mem.Tamper("wal/"+seg1, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	err = m.FetchWAL(ctx, seg1, filepath.Join(dst, "damaged"))
	assert.ErrorIs(t, err, backup.ErrCorrupt)
	assert.ErrorContains(t, err, seg1)
	assert.NoFileExists(t, filepath.Join(dst, "damaged"))
	require.NoError(t, b.FetchWAL(ctx, seg1, filepath.Join(dst, "intact")))

	// Names PostgreSQL does not archive are refused.
	assert.ErrorIs(t, b.PushWAL(ctx, filepath.Join(src, "postgresql.conf")), backup.ErrInvalid)
	assert.ErrorIs(t, b.FetchWAL(ctx, "../../etc/passwd", filepath.Join(dst, "y")), backup.ErrInvalid)
}

func readAll(t *testing.T, target backup.Target, name string) []byte {
	t.Helper()
	rc, err := target.Get(context.Background(), name)
	require.NoError(t, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return data
}

// TestWALStatus reports the runs of archived segments, a gap, and the
// RPO: how long ago the newest segment was archived.
func TestWALStatus(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("mem")}, backup.Options{Now: clock.Now})
	require.NoError(t, err)

	st, err := b.WALStatus(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Segments)
	assert.Zero(t, st.RPO)

	src := t.TempDir()
	for _, name := range []string{
		"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000", // across a log file
		"000000010000000100000002", // after a gap
		"000000010000000100000002.00000028.backup", "00000002.history",
		"000000020000000100000003",
	} {
		require.NoError(t, b.PushWAL(ctx, walFile(t, src, name, 100, 1)))
		clock.Advance(time.Minute)
	}
	clock.Advance(30 * time.Second)
	st, err = b.WALStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, []backup.WALRange{
		{Timeline: 1, First: "0000000100000000000000FE", Last: "000000010000000100000000", Segments: 3},
		{Timeline: 1, First: "000000010000000100000002", Last: "000000010000000100000002", Segments: 1},
		{Timeline: 2, First: "000000020000000100000003", Last: "000000020000000100000003", Segments: 1},
	}, st.Ranges)
	assert.Equal(t, 5, st.Segments)
	assert.Equal(t, 2, st.Other)
	assert.Equal(t, "000000020000000100000003", st.Newest)
	assert.Equal(t, 90*time.Second, st.RPO)
}

// TestRestorePostgresRefuses: without a base backup, before the oldest
// one, into a non-empty directory, or without a restore command, a
// point-in-time restore is refused and writes nothing.
func TestRestorePostgresRefuses(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("mem")}, backup.Options{})
	require.NoError(t, err)
	opts := backup.PGRestoreOptions{RestoreCommand: "saaskit backup wal-fetch %f %p"}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "pgdata")

	_, err = b.RestorePostgres(ctx, dir, at, opts)
	assert.ErrorIs(t, err, backup.ErrNotFound)
	assert.ErrorContains(t, err, "no PostgreSQL base backup")
	assert.NoDirExists(t, dir)

	_, err = b.RestorePostgres(ctx, dir, at, backup.PGRestoreOptions{})
	assert.ErrorIs(t, err, backup.ErrInvalid)
	_, err = b.RestorePostgres(ctx, dir, at, backup.PGRestoreOptions{RestoreCommand: opts.RestoreCommand, TargetAction: "explode"})
	assert.ErrorIs(t, err, backup.ErrInvalid)
}

func TestIsWALName(t *testing.T) {
	for name, want := range map[string]bool{
		"000000010000000000000001":                 true,
		"00000001000000000000000A.partial":         true,
		"000000010000000000000002.00000028.backup": true,
		"00000002.history":                         true,
		"00000001000000000000000a":                 false,
		"0000000100000000000000011":                false,
		"../000000010000000000000001":              false,
		"RECOVERYXLOG":                             false,
		"":                                         false,
	} {
		assert.Equal(t, want, backup.IsWALName(name), name)
	}
}
