package audit_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/audit"
)

func TestCheckpointFileKeepsWhatWasAppended(t *testing.T) {
	f := audit.CheckpointFile{Path: filepath.Join(t.TempDir(), "cps.jsonl")}
	got, err := f.Read()
	require.NoError(t, err)
	assert.Empty(t, got, "no file: no checkpoints")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a1 := audit.Checkpoint{TenantID: "acme", Seq: 1, Hash: audit.ZeroHash, Time: at, Signature: "ab"}
	g1 := audit.Checkpoint{TenantID: "globex", Seq: 3, Hash: audit.ZeroHash, Time: at}
	a2 := audit.Checkpoint{TenantID: "acme", Seq: 2, Hash: audit.ZeroHash, Time: at.Add(time.Hour)}
	require.NoError(t, f.Append(a1, g1))
	require.NoError(t, f.Append(a2))
	got, err = f.Read()
	require.NoError(t, err)
	assert.Equal(t, map[string][]audit.Checkpoint{"acme": {a1, a2}, "globex": {g1}}, got)
	info, err := os.Stat(f.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	require.NoError(t, os.WriteFile(f.Path, []byte("{not json"), 0o600))
	_, err = f.Read()
	assert.ErrorContains(t, err, f.Path)
}
