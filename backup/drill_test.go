package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestDrillRestoresAndChecksSQLite(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{})
	require.NoError(t, err)
	db := sqldbtest.OpenSQLite(t)
	_, err = db.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1), (2)`)
	require.NoError(t, err)
	m, err := b.Run(ctx, backup.SQLiteSource("app", db.DB, ""))
	require.NoError(t, err)

	r := b.Drill(ctx, m.ID, backup.DrillOptions{Check: sqlitecheck.Integrity})
	assert.True(t, r.OK, r.Error)
	assert.Positive(t, r.Duration, "the measured recovery time")
	assert.Equal(t, m.PlainSize, r.Bytes)

	r = b.Drill(ctx, m.ID, backup.DrillOptions{Check: func(context.Context, string) error { return errors.New("row count 0, want 2") }})
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "row count 0")

	mem.Tamper("data/"+m.ID, func(b []byte) []byte { b[40] ^= 0xff; return b })
	r = b.Drill(ctx, m.ID, backup.DrillOptions{Check: sqlitecheck.Integrity})
	assert.False(t, r.OK, "a damaged backup fails its drill")
}

func TestIntegrityCheckFindsCorruption(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	_, err := db.Exec(`PRAGMA journal_mode=DELETE; CREATE TABLE t (x TEXT); CREATE INDEX tx ON t (x)`)
	require.NoError(t, err)
	for i := range 2000 {
		_, err := db.Exec("INSERT INTO t VALUES (?)", i)
		require.NoError(t, err)
	}
	var path string
	require.NoError(t, db.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path))
	require.NoError(t, db.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := 4096 * 3; i < 4096*3+512; i++ { // scribble over a page of the table
		data[i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(path, data, 0o600))
	assert.Error(t, sqlitecheck.Integrity(context.Background(), path))
}

func TestCheck321(t *testing.T) {
	assert.Empty(t, backup.Check321([]backup.Placement{
		{Target: "local", Media: "disk"}, {Target: "s3", Media: "object-storage", Offsite: true},
	}))
	v := backup.Check321([]backup.Placement{{Target: "local", Media: "disk"}})
	assert.Len(t, v, 3, "one backup copy: too few copies, one medium, nothing offsite: %v", v)
}

// TestCheck321CountsTargetsNotPlacements: one directory listed twice,
// under two media labels and however spelled (the same Name, a
// trailing slash, a symbolic link, the same directory as a file://
// bucket), is one copy on one medium; two directories are two copies.
func TestCheck321CountsTargetsNotPlacements(t *testing.T) {
	parent := t.TempDir()
	dir, err := backup.NewDirTarget(filepath.Join(parent, "backups"))
	require.NoError(t, err)
	link := filepath.Join(parent, "link")
	require.NoError(t, os.Symlink(filepath.Join(parent, "backups"), link))
	for _, twice := range []string{dir.Name(), dir.Name() + "/", "dir:" + link, "file://" + filepath.ToSlash(link) + "?no_tmp_dir=true"} {
		v := backup.Check321([]backup.Placement{{Target: dir.Name(), Media: "disk"}, {Target: twice, Media: "object-storage", Offsite: true}})
		assert.Equal(t, []string{
			"target " + twice + ` is listed twice (as "disk" and "object-storage"): it holds one copy`,
			"2 copies of the data counting production; 3 are needed",
			"backups on 1 kind of media; 2 are needed",
			"no copy offsite",
		}, v, twice)
	}
	offsite := backup.Placement{Target: "s3://offsite", Media: "object-storage", Offsite: true}
	other, err := backup.NewDirTarget(filepath.Join(parent, "other"))
	require.NoError(t, err)
	assert.Empty(t, backup.Check321([]backup.Placement{{Target: dir.Name(), Media: "disk"}, {Target: other.Name(), Media: "tape"}, offsite}))
}
