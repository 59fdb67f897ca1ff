package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackupUnsealedBefore: a backup whose manifest has no seal (as
// written before manifests were sealed) fails verification, and passes
// with --unsealed-before a time after it started; a bad time is a usage
// error.
func TestBackupUnsealedBefore(t *testing.T) {
	data := cheapDataDir(t)
	src := filepath.Join(t.TempDir(), "ledger.csv")
	require.NoError(t, os.WriteFile(src, []byte(strings.Repeat("2026-11-27,invoice,42,paid\n", 100)), 0o600))
	out, err := saaskit(t, "backup", "run", "--file", src, "--json", "--data", data)
	require.NoError(t, err, out)
	var m struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &m))

	path := filepath.Join(data, "backups", "manifests", m.ID+".json")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var members map[string]any
	require.NoError(t, json.Unmarshal(raw, &members))
	delete(members, "seal")
	raw, err = json.Marshal(members)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	out, err = saaskit(t, "backup", "verify", m.ID, "--data", data)
	assert.Error(t, err, out)
	out, err = saaskit(t, "backup", "verify", m.ID, "--data", data, "--unsealed-before", time.Now().Add(time.Hour).Format(time.RFC3339))
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok      "+m.ID)
	_, err = saaskit(t, "backup", "verify", m.ID, "--data", data, "--unsealed-before", "yesterday")
	assert.Equal(t, exitUsage, exitCode(err))
}
