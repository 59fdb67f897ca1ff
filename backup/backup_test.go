package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
)

func newKeyring(t *testing.T) (*skcrypto.Keyring, *cryptotest.RootKey) {
	t.Helper()
	st := cryptomem.New()
	root := cryptotest.NewRootKey(t)
	k, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	require.NoError(t, err)
	return k, root
}

func bytesSource(data []byte) backup.Source {
	return backup.ReaderSource("bytes", func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// TestRoundTrip backs up random data of many sizes, compressible or
// not, to a directory and to memory, and restores it byte for byte.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	dir, err := backup.NewDirTarget(t.TempDir())
	require.NoError(t, err)
	mem := backup.NewMemoryTarget("mem")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{dir, mem}, backup.Options{TenantID: "acme"})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 100, 64 << 10, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 17} {
		data := make([]byte, size)
		if size%2 == 0 {
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
		} else {
			copy(data, bytes.Repeat([]byte("compressible "), size/13+1))
		}
		m, err := b.Run(ctx, bytesSource(data))
		require.NoError(t, err, size)
		assert.EqualValues(t, size, m.PlainSize)
		var out bytes.Buffer
		require.NoError(t, b.Restore(ctx, m.ID, &out), size)
		require.True(t, bytes.Equal(data, out.Bytes()), "restore of %d bytes is byte-identical", size)
		require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll))
		rc, err := mem.Get(ctx, "data/"+m.ID)
		require.NoError(t, err)
		stored, _ := io.ReadAll(rc)
		assert.False(t, size > 100 && bytes.Contains(stored, []byte("compressible")), "stored bytes are encrypted")
	}
	all, err := b.Manifests(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 8, "the catalog is rebuilt from the targets")
	assert.Equal(t, "keyring:backup/acme", all[0].KeyID)
	assert.Equal(t, []string{dir.Name(), "mem"}, all[0].Targets)
}

// TestVerifyFindsDamage flips a byte and truncates a copy: verify names
// the backup and the target; restore falls back to the good copy.
func TestVerifyFindsDamage(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	good, bad := backup.NewMemoryTarget("good"), backup.NewMemoryTarget("bad")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{bad, good}, backup.Options{})
	require.NoError(t, err)
	data := bytes.Repeat([]byte("the ledger of 2026 "), 200_000)
	m, err := b.Run(ctx, bytesSource(data))
	require.NoError(t, err)

	bad.Tamper("data/"+m.ID, func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b })
	err = b.Verify(ctx, m.ID, backup.CheckReadAll)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	assert.Contains(t, err.Error(), m.ID)
	assert.Contains(t, err.Error(), "bad")
	assert.Contains(t, err.Error(), "stored byte", "where the damage was met")
	assert.NoError(t, b.Verify(ctx, m.ID, backup.CheckExists), "the objects are all there")

	path := filepath.Join(t.TempDir(), "restored")
	require.NoError(t, b.RestoreFile(ctx, m.ID, path), "the good copy restores")
	restored, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, restored))

	bad.Tamper("data/"+m.ID, func(b []byte) []byte { return b[:len(b)-100] })
	assert.ErrorIs(t, b.Verify(ctx, m.ID, backup.CheckReadAll), backup.ErrCorrupt, "a truncated copy")
	require.NoError(t, bad.Delete(ctx, "data/"+m.ID))
	assert.ErrorIs(t, b.Verify(ctx, m.ID, backup.CheckExists), backup.ErrCorrupt, "a missing copy")
}

// failingTarget fails its Put after some bytes: a crash mid-upload.
type failingTarget struct {
	*backup.MemoryTarget
	after int64
}

func (f failingTarget) Put(ctx context.Context, name string, r io.Reader) error {
	if strings.HasPrefix(name, "data/") {
		_, _ = io.CopyN(io.Discard, r, f.after)
		return errors.New("connection reset")
	}
	return f.MemoryTarget.Put(ctx, name, r)
}

func TestFailedBackupLeavesNoManifest(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	ok := backup.NewMemoryTarget("ok")
	flaky := failingTarget{backup.NewMemoryTarget("flaky"), 1000}
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{ok, flaky}, backup.Options{})
	require.NoError(t, err)
	_, err = b.Run(ctx, bytesSource(bytes.Repeat([]byte("x"), 5<<20)))
	require.ErrorContains(t, err, "connection reset")
	for _, tgt := range []*backup.MemoryTarget{ok, flaky.MemoryTarget} {
		names, err := tgt.List(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, names, "no manifest and no data on %s: a half backup does not exist", tgt.Name())
	}
}

// TestFailsClosed: without a key, or with the key service down, nothing
// is written, and nothing in plaintext ever.
func TestFailsClosed(t *testing.T) {
	_, err := backup.New(nil, []backup.Target{backup.NewMemoryTarget("m")}, backup.Options{})
	assert.ErrorIs(t, err, backup.ErrNoKey)

	ctx := context.Background()
	keys, root := newKeyring(t)
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "fresh-tenant"), []backup.Target{mem}, backup.Options{})
	require.NoError(t, err)
	root.SetDown(true)
	_, err = b.Run(ctx, bytesSource([]byte("secret payroll")))
	require.ErrorIs(t, err, backup.ErrNoKey)
	names, _ := mem.List(ctx, "")
	assert.Empty(t, names)
}

func TestSQLiteAndDirectorySources(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{})
	require.NoError(t, err)

	db := sqldbtest.OpenSQLite(t)
	_, err = db.Exec(`CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO invoices (total) VALUES (100), (250)`)
	require.NoError(t, err)
	m, err := b.Run(ctx, backup.SQLiteSource("app", db.DB, t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, "sqlite:app", m.Source)
	path := filepath.Join(t.TempDir(), "restored.db")
	require.NoError(t, b.RestoreFile(ctx, m.ID, path))
	head, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(head, []byte("SQLite format 3\x00")), "a SQLite database file")

	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "a", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a", "b", "note.txt"), []byte("hello"), 0o644))
	m, err = b.Run(ctx, backup.DirSource(src))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, b.Restore(ctx, m.ID, &out))
	assert.Contains(t, out.String(), "a/b/note.txt")
	assert.Contains(t, out.String(), "hello")

	_, err = b.Run(ctx, backup.PostgresSource("app", "postgres://nowhere"))
	if err != nil && errors.Is(err, backup.ErrToolMissing) {
		assert.ErrorContains(t, err, "pg_dump", "the missing program is named")
	}
}

// TestShreddingReachesBackups: data encrypted under a subject's key is
// unreadable in a backup taken before the subject's keys were shredded.
func TestShreddingReachesBackups(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	scope := skcrypto.Scope{Tenant: "acme", Subject: "usr_ada"}
	ct, err := keys.Encrypt(ctx, scope, []byte("ada@example.com"), nil)
	require.NoError(t, err)
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{})
	require.NoError(t, err)
	m, err := b.Run(ctx, bytesSource(ct))
	require.NoError(t, err)

	_, err = keys.ShredSubject(ctx, "acme", "usr_ada")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, b.Restore(ctx, m.ID, &out), "the backup itself still restores")
	_, err = keys.Decrypt(ctx, scope, out.Bytes(), nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed, "but the subject's data inside it is gone for good")
}

func TestVerifySubsetCoversEverything(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{backup.NewMemoryTarget("m")}, backup.Options{})
	require.NoError(t, err)
	for range 7 {
		_, err := b.Run(ctx, bytesSource([]byte("x")))
		require.NoError(t, err)
	}
	seen := map[string]int{}
	for n := range 3 {
		ids, err := b.VerifySubset(ctx, n, 3)
		require.NoError(t, err)
		for _, id := range ids {
			seen[id]++
		}
	}
	assert.Len(t, seen, 7)
	for id, c := range seen {
		assert.Equal(t, 1, c, id)
	}
	_, err = b.VerifySubset(ctx, 3, 3)
	assert.ErrorIs(t, err, backup.ErrInvalid)
}

func TestPointInTimeAndPostgres(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{TenantID: "acme", Now: clock.Now})
	require.NoError(t, err)
	var ids []string
	for i := range 3 {
		m, err := b.Run(ctx, backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(fmt.Sprint("version ", i))), nil
		}))
		require.NoError(t, err)
		ids = append(ids, m.ID)
		clock.Advance(24 * time.Hour)
	}
	m, err := b.At(ctx, "ledger", time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, ids[1], m.ID, "the newest backup finished by then")
	_, err = b.At(ctx, "ledger", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	assert.ErrorIs(t, err, backup.ErrNotFound)

	// pg_dump's custom format of a real database, when PostgreSQL is
	// here: of the schema the DSN's search_path names, as a service
	// living in a schema of its own has it.
	pg := sqldbtest.OpenPostgres(t)
	_, err = pg.ExecContext(ctx, "CREATE TABLE ledger_rows (id int)")
	require.NoError(t, err)
	pm, err := b.Run(ctx, backup.PostgresSource("test", sqldbtest.DSN(t, pg)))
	if errors.Is(err, backup.ErrToolMissing) {
		t.Skip("pg_dump is not installed: ", err)
	}
	require.NoError(t, err)
	var dump bytes.Buffer
	require.NoError(t, b.Restore(ctx, pm.ID, &dump))
	assert.True(t, bytes.HasPrefix(dump.Bytes(), []byte("PGDMP")), "a pg_dump custom-format archive")
	assert.Contains(t, dump.String(), "ledger_rows", "the schema's table is in the archive")
	_, err = b.Run(ctx, backup.PostgresSource("bad", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2"))
	assert.ErrorContains(t, err, "pg_dump", "a failing dump fails the backup, saying why")
}

// TestVerifyChecksWhatTargetsHoldHoweverSpelled: a backup made through
// a target spelled one way is verified, and its damage found, through
// the same directory spelled another way (relative, through a symbolic
// link); a verification or restore that finds no copy fails.
func TestVerifyChecksWhatTargetsHoldHoweverSpelled(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	parent := t.TempDir()
	abs := filepath.Join(parent, "backups")
	dir, err := backup.NewDirTarget(abs)
	require.NoError(t, err)
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{dir}, backup.Options{})
	require.NoError(t, err)
	m, err := b.Run(ctx, bytesSource(bytes.Repeat([]byte("ledger "), 50_000)))
	require.NoError(t, err)

	link := filepath.Join(parent, "link")
	require.NoError(t, os.Symlink(abs, link))
	t.Chdir(parent)
	for _, spelling := range []string{"backups", "./backups/", link} {
		other, err := backup.NewDirTarget(spelling)
		require.NoError(t, err)
		again, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{other}, backup.Options{})
		require.NoError(t, err)
		require.NoError(t, again.Verify(ctx, m.ID, backup.CheckReadAll), spelling)
	}

	data := filepath.Join(abs, "data", m.ID)
	stored, err := os.ReadFile(data)
	require.NoError(t, err)
	for i := range 3 {
		stored[len(stored)/2+i] ^= 0xff
	}
	require.NoError(t, os.WriteFile(data, stored, 0o600))
	relative, err := backup.NewDirTarget("backups")
	require.NoError(t, err)
	again, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{relative}, backup.Options{})
	require.NoError(t, err)
	assert.ErrorIs(t, again.Verify(ctx, m.ID, backup.CheckReadAll), backup.ErrCorrupt, "three flipped bytes")
	// A target whose name is not the one recorded (a bucket renamed, a
	// copy of the directory mounted elsewhere) is still checked.
	renamedTarget, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{renamed{relative, "dir:/mnt/copy"}}, backup.Options{})
	require.NoError(t, err)
	assert.ErrorIs(t, renamedTarget.Verify(ctx, m.ID, backup.CheckReadAll), backup.ErrCorrupt, "a target under another name")

	elsewhere := backup.NewMemoryTarget("elsewhere")
	none, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{elsewhere}, backup.Options{})
	require.NoError(t, err)
	assert.ErrorIs(t, none.Verify(ctx, m.ID, backup.CheckExists), backup.ErrNotFound)
	err = none.Restore(ctx, m.ID, io.Discard)
	require.ErrorIs(t, err, backup.ErrNotFound)
	assert.NotContains(t, err.Error(), "%!", "a restore that found nothing says so")
}

// renamed is a target under another name than it had at backup time.
type renamed struct {
	backup.Target
	name string
}

func (r renamed) Name() string { return r.name }

// TestVerificationsAreRecordedOnTheTargets: the outcome of a
// verification is kept beside the backup, so that another process (the
// command line, another replica) sees the last one; a forgotten backup
// takes its record with it.
func TestVerificationsAreRecordedOnTheTargets(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	dir := t.TempDir()
	open := func(now time.Time) *backup.Backups {
		target, err := backup.NewDirTarget(dir)
		require.NoError(t, err)
		b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{target}, backup.Options{Now: func() time.Time { return now }})
		require.NoError(t, err)
		return b
	}
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	first := open(day)
	m, err := first.Run(ctx, bytesSource(bytes.Repeat([]byte("ledger "), 10_000)))
	require.NoError(t, err)
	none, err := first.Verifications(ctx)
	require.NoError(t, err)
	assert.Empty(t, none, "never verified")

	require.NoError(t, first.Verify(ctx, m.ID, backup.CheckReadAll))
	other := open(day.Add(time.Hour)) // another process, an hour on
	got, err := other.Verifications(ctx)
	require.NoError(t, err)
	assert.Equal(t, []backup.Verified{{ID: m.ID, At: day, Level: "all", OK: true}}, got)

	stored := filepath.Join(dir, "data", m.ID)
	b, err := os.ReadFile(stored)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(stored, b, 0o600))
	require.ErrorIs(t, other.Verify(ctx, m.ID, backup.CheckReadAll), backup.ErrCorrupt)
	got, err = first.Verifications(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1, "one record a backup: the last")
	assert.False(t, got[0].OK)
	assert.Equal(t, day.Add(time.Hour), got[0].At)
	assert.Contains(t, got[0].Error, "stored byte")

	_, err = open(day.Add(2*time.Hour)).Run(ctx, bytesSource([]byte("a newer ledger")))
	require.NoError(t, err)
	_, err = other.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
	require.NoError(t, err)
	got, err = other.Verifications(ctx)
	require.NoError(t, err)
	assert.Empty(t, got, "the forgotten backup's record went with it")
}
