package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSnapshotCommands: snapshots of a directory and of a file are
// listed; a second snapshot of an unchanged directory adds no chunk;
// bad command lines are usage errors.
func TestSnapshotCommands(t *testing.T) {
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
