package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/tenancy"
	tenantstore "github.com/saaskit/saaskit/tenancy/sqlstore"
)

// dataDir makes a data directory with a root keyset, as the demo does.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "correct horse battery staple")
	kms, err := localkms.New([]byte("correct horse battery staple"), localkms.Options{Create: true})
	require.NoError(t, err)
	_, err = kms.GetAEAD(localkms.NewKeyURI(filepath.Join(dir, "root.keyset")))
	require.NoError(t, err)
	return dir
}

// seedTenants creates the service's tenants ids in data's database, as
// the service does.
func seedTenants(t *testing.T, data string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(ctx, data, true)
	require.NoError(t, err)
	defer db.Close()
	st, err := tenantstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	for _, id := range ids {
		require.NoError(t, st.Create(ctx, &tenancy.Tenant{ID: id, Slug: id, Name: id}))
	}
}

func saaskit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return saaskitWithInput(t, "", args...)
}

// saaskitWithInput runs a command with stdin.
func saaskitWithInput(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestBackupCommands(t *testing.T) {
	data := dataDir(t)
	file := filepath.Join(t.TempDir(), "ledger.csv")
	content := bytes.Repeat([]byte("2026-11-27,invoice,42\n"), 10_000)
	require.NoError(t, os.WriteFile(file, content, 0o600))

	out, err := saaskit(t, "backup", "--data", data, "--json", "run", "--file", file, "--tag", "nightly")
	require.NoError(t, err)
	var m struct {
		ID        string
		PlainSize int64 `json:"plain_size"`
		Tags      []string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &m), out)
	assert.EqualValues(t, len(content), m.PlainSize)
	assert.Equal(t, []string{"nightly"}, m.Tags)

	out, err = saaskit(t, "backup", "--data", data, "list")
	require.NoError(t, err)
	assert.Contains(t, out, m.ID)
	assert.Contains(t, out, "file:ledger.csv")

	out, err = saaskit(t, "backup", "--data", data, "verify")
	require.NoError(t, err)
	assert.Contains(t, out, "ok      "+m.ID)

	restored := filepath.Join(t.TempDir(), "restored.csv")
	_, err = saaskit(t, "backup", "--data", data, "restore", m.ID, "--to", restored)
	require.NoError(t, err)
	got, err := os.ReadFile(restored)
	require.NoError(t, err)
	assert.Equal(t, content, got)
	require.NoError(t, os.WriteFile(restored, []byte("live"), 0o600))
	_, err = saaskit(t, "backup", "--data", data, "restore", m.ID, "--to", restored)
	assert.Equal(t, exitFailed, exitCode(err))
	assert.ErrorContains(t, err, "--force")
	got, err = os.ReadFile(restored)
	require.NoError(t, err)
	assert.Equal(t, "live", string(got), "an existing file was replaced without --force")
	_, err = saaskit(t, "backup", "--data", data, "restore", m.ID, "--to", restored, "--force")
	require.NoError(t, err)
	got, err = os.ReadFile(restored)
	require.NoError(t, err)
	assert.Equal(t, content, got)

	out, err = saaskit(t, "backup", "--data", data, "prune", "--dry-run")
	require.NoError(t, err)
	assert.Contains(t, out, "keep   "+m.ID)
	assert.Contains(t, out, "dry run")

	// A flipped byte in the stored copy fails verification, named.
	stored := filepath.Join(data, "backups", "data", m.ID)
	b, err := os.ReadFile(stored)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x10
	require.NoError(t, os.WriteFile(stored, b, 0o600))
	out, err = saaskit(t, "backup", "--data", data, "verify")
	assert.ErrorContains(t, err, "1 of 1 backups failed")
	assert.Equal(t, exitBad, exitCode(err))
	assert.Contains(t, out, "FAILED  "+m.ID)

	_, err = saaskit(t, "backup", "--data", data, "explode")
	assert.ErrorContains(t, err, `unknown command "explode"`)
	assert.Equal(t, exitUsage, exitCode(err))
	_, err = saaskit(t, "nothing")
	assert.ErrorContains(t, err, `unknown command "nothing"`)
	assert.Equal(t, exitUsage, exitCode(err))
}

func TestMissingPassphrase(t *testing.T) {
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "")
	_, err := saaskit(t, "backup", "--data", t.TempDir(), "list")
	assert.ErrorContains(t, err, "SAASKIT_ROOT_PASSPHRASE")
}

// TestProgressGoesToStderr shows the progress bars of long work on
// stderr, apart from the output, and none with --json or when stderr is
// not a terminal.
func TestProgressGoesToStderr(t *testing.T) {
	data := dataDir(t)
	file := filepath.Join(t.TempDir(), "ledger.csv")
	require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("2026-11-27,invoice,42\n"), 10_000), 0o600))
	runCaptured := func(args ...string) (string, string) {
		var out, errOut bytes.Buffer
		require.NoError(t, run(context.Background(), args, strings.NewReader(""), &out, &errOut))
		return out.String(), errOut.String()
	}
	_, progress := runCaptured("backup", "--data", data, "run", "--file", file)
	assert.Empty(t, progress, "no bar off a terminal")

	drawn := showsProgress
	showsProgress = func(io.Writer) bool { return true } // as on a terminal
	defer func() { showsProgress = drawn }()
	out, progress := runCaptured("backup", "--data", data, "run", "--file", file)
	assert.Contains(t, progress, "backing up file:ledger.csv")
	assert.NotContains(t, out, "backing up")

	out, progress = runCaptured("backup", "--data", data, "verify")
	assert.Contains(t, progress, "verifying backups")
	assert.Equal(t, 2, strings.Count(out, "ok      "), out)

	_, progress = runCaptured("backup", "--data", data, "--json", "verify")
	assert.Empty(t, progress)
}

func TestVersion(t *testing.T) {
	out, err := saaskit(t, "version")
	require.NoError(t, err)
	assert.Regexp(t, `^saaskit \S+ .*go1\.\d+`, out)
}
