package backup_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/internal/testclock"
)

// filesUnder lists every file under dir, scratch files included.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return err
	}))
	return files
}

// TestNoKeyringFailsClosed: a KeyringCipher without a keyring is no
// key: Backups and repositories refuse it with ErrNoKey, and so do its
// methods, instead of panicking in Run.
func TestNoKeyringFailsClosed(t *testing.T) {
	var nilKeyring *skcrypto.Keyring // a keyring variable never set
	for name, cipher := range map[string]backup.Cipher{
		"nil":                 backup.KeyringCipher(nil, "acme"),
		"nil *crypto.Keyring": backup.KeyringCipher(nilKeyring, "acme"),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			target, err := backup.NewDirTarget(dir)
			require.NoError(t, err)
			_, err = backup.New(cipher, []backup.Target{target}, backup.Options{})
			assert.ErrorIs(t, err, backup.ErrNoKey)
			_, err = backup.OpenRepository(ctx, cipher, []backup.Target{target}, backup.RepositoryOptions{CacheDir: t.TempDir()})
			assert.ErrorIs(t, err, backup.ErrNoKey)
			_, err = cipher.EncryptStream(ctx, io.Discard, nil)
			assert.ErrorIs(t, err, backup.ErrNoKey)
			_, err = cipher.DecryptStream(ctx, bytes.NewReader(nil), nil)
			assert.ErrorIs(t, err, backup.ErrNoKey)
			assert.Empty(t, filesUnder(t, dir))
		})
	}
}

// TestSchedulerRecoversAPanickingJob: a job whose source panics does
// not take the scheduler down: the panic is logged with its stack and
// recorded as the job's error, without retries, and the directory
// target keeps no file of the run, scratch files included.
func TestSchedulerRecoversAPanickingJob(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	dir := t.TempDir()
	target, err := backup.NewDirTarget(dir)
	require.NoError(t, err)
	clock := testclock.New(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{target}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	opens := 0
	src := backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
		opens++
		return io.NopCloser(io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("ledger "), 300_000)), panicking{})), nil
	})
	var logs bytes.Buffer
	s, err := backup.NewScheduler(b, []backup.Job{{Name: "ledger", Source: src, Every: time.Hour}},
		backup.SchedulerOptions{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.NotPanics(t, func() { s.RunDue(ctx) })
	st, _ := s.Status("ledger")
	assert.Contains(t, st.LastError, "backup of job ledger panicked: source bug")
	assert.Empty(t, st.LastBackup)
	assert.Equal(t, 1, opens, "a panic is not retried")
	assert.Contains(t, logs.String(), "backup panicked")
	assert.Contains(t, logs.String(), "stack=")
	assert.Empty(t, filesUnder(t, dir), "no data, manifest or scratch file is left")
}

// panicking panics when read.
type panicking struct{}

func (panicking) Read([]byte) (int, error) { panic("source bug") }
