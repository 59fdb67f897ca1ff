package backup_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
	"github.com/saaskit/saaskit/backup/retention"
)

// moveAndLink moves the directory at path into dest and leaves a
// symbolic link to it at path: a directory moved to another disk.
func moveAndLink(t *testing.T, path, dest string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(dest), 0o700))
	require.NoError(t, os.Rename(path, dest))
	require.NoError(t, os.Symlink(dest, path))
}

// TestDirTargetThroughSymbolicLinks: a directory target whose root, or
// a directory in it, is a symbolic link (moved to another disk and
// linked back after the target was opened) has its whole catalog: it
// is listed, found by At, verified by VerifySubset and pruned. A link
// that leads nowhere or loops fails the listing instead of hiding
// backups.
func TestDirTargetThroughSymbolicLinks(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	for _, moved := range []string{".", "manifests", "data"} {
		t.Run(moved, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "backups")
			dir, err := backup.NewDirTarget(root)
			require.NoError(t, err)
			day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
			now := day
			b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{dir}, backup.Options{Now: func() time.Time { return now }})
			require.NoError(t, err)
			var ids []string
			for i := range 2 {
				now = day.Add(time.Duration(i) * time.Hour)
				m, err := b.Run(ctx, bytesSource(bytes.Repeat([]byte("ledger "), 1000+i)))
				require.NoError(t, err)
				ids = append(ids, m.ID)
			}
			moveAndLink(t, filepath.Join(root, moved), filepath.Join(parent, "disk2", "moved"))

			all, err := b.Manifests(ctx)
			require.NoError(t, err)
			require.Len(t, all, 2, "the catalog through the link")
			names, err := dir.List(ctx, "")
			require.NoError(t, err)
			assert.Contains(t, names, "data/"+ids[0])
			assert.Contains(t, names, "manifests/"+ids[1]+".json")
			m, err := b.At(ctx, "bytes", day.Add(2*time.Hour))
			require.NoError(t, err)
			assert.Equal(t, ids[1], m.ID)
			checked, err := b.VerifySubset(ctx, 0, 1)
			require.NoError(t, err)
			assert.Equal(t, ids, checked)
			plan, err := b.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
			require.NoError(t, err)
			require.Len(t, plan.Forget(), 1)
			all, err = b.Manifests(ctx)
			require.NoError(t, err)
			require.Len(t, all, 1)
			assert.Equal(t, ids[1], all[0].ID)
		})
	}

	t.Run("broken links", func(t *testing.T) {
		root := t.TempDir()
		dir, err := backup.NewDirTarget(root)
		require.NoError(t, err)
		b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{dir}, backup.Options{})
		require.NoError(t, err)
		_, err = b.Run(ctx, bytesSource([]byte("ledger")))
		require.NoError(t, err)

		dangling := filepath.Join(root, "manifests", "elsewhere")
		require.NoError(t, os.Symlink(filepath.Join(root, "gone"), dangling))
		_, err = b.Manifests(ctx)
		assert.ErrorContains(t, err, "elsewhere", "a link to nowhere fails the listing")
		require.NoError(t, os.Remove(dangling))

		require.NoError(t, os.Symlink(root, filepath.Join(root, "data", "loop")))
		_, err = dir.List(ctx, "")
		assert.ErrorContains(t, err, "loops")
	})
}

// TestTargets runs the target conformance suite on MemoryTarget and
// DirTarget.
func TestTargets(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		backuptest.RunTargetTests(t, func(*testing.T) backup.Target { return backup.NewMemoryTarget("mem") })
	})
	t.Run("dir", func(t *testing.T) {
		backuptest.RunTargetTests(t, func(t *testing.T) backup.Target {
			dir, err := backup.NewDirTarget(t.TempDir())
			require.NoError(t, err)
			return dir
		})
	})
}
