package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
)

// TestSnapshotCommands: snapshots of a directory and of a file are
// listed; a second snapshot of an unchanged directory adds no chunk;
// bad command lines are usage errors.
func TestSnapshotCommands(t *testing.T) {
	noUserCache(t)
	data := dataDir(t)
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "ledger.csv"), []byte(strings.Repeat("2026-11-27,invoice,42,paid\n", 5000)), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "notes.txt"), []byte("hello"), 0o600))

	var first, second struct {
		ID         string `json:"id"`
		Kind       string `json:"kind"`
		NewChunks  int    `json:"new_chunks"`
		AddedBytes int64  `json:"added_bytes"`
		Files      int    `json:"files"`
	}
	out, err := saaskit(t, "backup", "snapshot", src, "--json", "--data", data)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &first))
	assert.Equal(t, "tree", first.Kind)
	assert.Equal(t, 2, first.Files)
	assert.Positive(t, first.NewChunks)

	out, err = saaskit(t, "backup", "snapshot", src, "--tag", "again", "--json", "--data", data)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &second))
	assert.Zero(t, second.NewChunks)
	assert.Zero(t, second.AddedBytes)

	out, err = saaskit(t, "backup", "snapshot", filepath.Join(src, "ledger.csv"), "--data", data)
	require.NoError(t, err, out)
	assert.Contains(t, out, "of file:ledger.csv")
	assert.Contains(t, out, "0 of 1 chunks new", "the file's chunk is the directory's")

	out, err = saaskit(t, "backup", "snapshots", "--data", data)
	require.NoError(t, err)
	assert.Contains(t, out, first.ID)
	assert.Contains(t, out, second.ID)
	assert.Contains(t, out, "file:ledger.csv")
	// The backups' catalog is apart from the snapshots.
	out, err = saaskit(t, "backup", "list", "--data", data)
	require.NoError(t, err)
	assert.NotContains(t, out, first.ID)

	_, err = saaskit(t, "backup", "snapshot", "--data", data)
	assert.Equal(t, exitUsage, exitCode(err))
	_, err = saaskit(t, "backup", "snapshots", "extra", "--data", data)
	assert.Equal(t, exitUsage, exitCode(err))
	_, err = saaskit(t, "backup", "snapshot", filepath.Join(src, "missing"), "--data", data)
	assert.Equal(t, exitFailed, exitCode(err))
}

// TestSnapshotRestoreVerifyForget: snapshots of a directory and of a
// file are restored (by a unique prefix of the ID too), refusing to
// replace what is there without --force, and --force for a directory
// is a usage error; snapshot-verify passes, then finds a damaged pack
// (exit 3), which also fails a restore with exit 3; snapshot-forget
// plans, forgets and prunes.
func TestSnapshotRestoreVerifyForget(t *testing.T) {
	noUserCache(t)
	data := cheapDataDir(t)
	src := t.TempDir()
	ledger := []byte(strings.Repeat("2026-11-27,invoice,42,paid\n", 5000))
	require.NoError(t, os.WriteFile(filepath.Join(src, "ledger.csv"), ledger, 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "notes.txt"), []byte("hello"), 0o640))
	other := filepath.Join(t.TempDir(), "dump.bin")
	require.NoError(t, os.WriteFile(other, []byte(strings.Repeat("a dump of some database\n", 20000)), 0o600))

	var tree, file struct{ ID string }
	out, err := saaskit(t, "backup", "snapshot", src, "--json", "--data", data)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &tree))
	out, err = saaskit(t, "backup", "snapshot", other, "--json", "--data", data)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &file))

	// A directory's snapshot, into a new directory.
	dest := filepath.Join(t.TempDir(), "restored")
	out, err = saaskit(t, "backup", "snapshot-restore", tree.ID, "--to", dest, "--json", "--data", data)
	require.NoError(t, err, out)
	var res snapshotRestored
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "tree", res.Kind)
	got, err := os.ReadFile(filepath.Join(dest, "ledger.csv"))
	require.NoError(t, err)
	assert.Equal(t, ledger, got)
	fi, err := os.Stat(filepath.Join(dest, "sub", "notes.txt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	_, err = saaskit(t, "backup", "snapshot-restore", tree.ID, "--to", dest, "--data", data)
	assert.Equal(t, exitFailed, exitCode(err), "into a directory that is not empty")
	_, err = saaskit(t, "backup", "snapshot-restore", tree.ID, "--to", t.TempDir(), "--force", "--data", data)
	assert.Equal(t, exitUsage, exitCode(err), "--force does not apply to a directory")

	// A file's snapshot, by a prefix of its ID, then replaced.
	to := filepath.Join(t.TempDir(), "dump.bin")
	out, err = saaskit(t, "backup", "snapshot-restore", file.ID[:len(file.ID)-2], "--to", to, "--data", data)
	require.NoError(t, err, out)
	assert.Contains(t, out, "restored snapshot "+file.ID)
	want, _ := os.ReadFile(other)
	got, _ = os.ReadFile(to)
	assert.Equal(t, want, got)
	_, err = saaskit(t, "backup", "snapshot-restore", file.ID, "--to", to, "--data", data)
	assert.Equal(t, exitFailed, exitCode(err), "the file exists")
	require.NoError(t, os.WriteFile(to, []byte("changed"), 0o600))
	_, err = saaskit(t, "backup", "snapshot-restore", file.ID, "--to", to, "--force", "--data", data)
	require.NoError(t, err)
	got, _ = os.ReadFile(to)
	assert.Equal(t, want, got)
	_, err = saaskit(t, "backup", "snapshot-restore", file.ID, "--to", t.TempDir(), "--data", data)
	assert.ErrorContains(t, err, "is a directory")
	_, err = saaskit(t, "backup", "snapshot-restore", "ffffffff", "--to", to+".2", "--data", data)
	assert.ErrorIs(t, err, backup.ErrNotFound)
	_, err = saaskit(t, "backup", "snapshot-restore", file.ID, "--data", data)
	assert.Equal(t, exitUsage, exitCode(err), "no --to")

	// Verify: the structure, then every pack.
	out, err = saaskit(t, "backup", "snapshot-verify", "--data", data)
	require.NoError(t, err, out)
	assert.Contains(t, out, "no problems found")
	out, err = saaskit(t, "backup", "snapshot-verify", "--read-data-subset", "100%", "--json", "--data", data)
	require.NoError(t, err, out)
	var check struct {
		OK        bool `json:"ok"`
		PacksRead int  `json:"packs_read"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &check))
	assert.True(t, check.OK)
	assert.Positive(t, check.PacksRead)
	read := 0
	for _, part := range []string{"1/2", "2/2"} {
		out, err = saaskit(t, "backup", "snapshot-verify", "--read-data-subset", part, "--json", "--data", data)
		require.NoError(t, err, out)
		var c struct {
			PacksRead int `json:"packs_read"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &c))
		read += c.PacksRead
	}
	assert.Equal(t, check.PacksRead, read, "parts 1/2 and 2/2 read every pack once between them")
	for _, bad := range []string{"0/5", "6/5", "1/0", "a/b", "abc", "0%", "150%", "10"} {
		_, err = saaskit(t, "backup", "snapshot-verify", "--read-data-subset", bad, "--data", data)
		assert.Equal(t, exitUsage, exitCode(err), bad)
	}

	// Forget all but the last snapshot of each source, and prune.
	out, err = saaskit(t, "backup", "snapshot", src, "--tag", "again", "--json", "--data", data)
	require.NoError(t, err, out)
	keepAll := []string{"--daily", "0", "--weekly", "0", "--monthly", "0", "--yearly", "0", "--last", "1"}
	out, err = saaskit(t, append([]string{"backup", "snapshot-forget", "--dry-run", "--data", data}, keepAll...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "forget "+tree.ID)
	assert.Contains(t, out, "dry run")
	out, err = saaskit(t, append([]string{"backup", "snapshot-forget", "--prune", "--json", "--data", data}, keepAll...)...)
	require.NoError(t, err, out)
	var forgot struct {
		Pruned *struct {
			PacksKept int `json:"packs_kept"`
		} `json:"pruned"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &forgot))
	require.NotNil(t, forgot.Pruned)
	assert.Positive(t, forgot.Pruned.PacksKept)
	out, err = saaskit(t, "backup", "snapshots", "--data", data)
	require.NoError(t, err)
	assert.NotContains(t, out, tree.ID)
	assert.Contains(t, out, file.ID)
	_, err = saaskit(t, "backup", "snapshot-forget", "--within", "forever", "--data", data)
	assert.Equal(t, exitUsage, exitCode(err))

	// Damage every pack: verify finds it, a restore refuses it.
	packs, err := filepath.Glob(filepath.Join(data, "backups", "snapshots", "packs", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	for _, p := range packs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)/2] ^= 0x40
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
	out, err = saaskit(t, "backup", "snapshot-verify", "--read-data-subset", "100%", "--data", data)
	assert.Equal(t, exitBad, exitCode(err), out)
	assert.Contains(t, out, "PROBLEM")
	_, err = saaskit(t, "backup", "snapshot-restore", file.ID, "--to", to+".3", "--data", data)
	assert.Equal(t, exitBad, exitCode(err))
	assert.NoFileExists(t, to+".3", "nothing written from damaged data")
}

// noUserCache points the user's cache directory (XDG_CACHE_HOME) at a
// scratch one: snapshots of a file keep a chunk cache there, which a
// test must not leave in the cache of the user running it.
func noUserCache(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}
