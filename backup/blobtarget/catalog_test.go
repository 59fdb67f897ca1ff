package blobtarget_test

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
	"github.com/saaskit/saaskit/backup/blobtarget"
	"github.com/saaskit/saaskit/backup/retention"
)

// TestFileBucketThroughSymbolicLink: a file:// bucket whose directory
// is reached through a symbolic link is listed whole, and its catalog
// is found, verified and pruned.
func TestFileBucketThroughSymbolicLink(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	real := filepath.Join(parent, "disk2", "backups")
	require.NoError(t, os.MkdirAll(real, 0o700))
	link := filepath.Join(parent, "backups")
	require.NoError(t, os.Symlink(real, link))
	u := "file://" + (&url.URL{Path: filepath.ToSlash(link)}).EscapedPath() + "?no_tmp_dir=true"
	target := open(t, u, blobtarget.Options{})
	assert.Equal(t, u, target.Name(), "named as opened")
	b, err := backup.New(testCipher(t), []backup.Target{target}, backup.Options{})
	require.NoError(t, err)
	var ids []string
	for _, s := range []string{"ledger", "ledger two"} {
		m, err := b.Run(ctx, backup.ReaderSource("ledger", readerOf(s)))
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	names, err := target.List(ctx, "")
	require.NoError(t, err)
	assert.Contains(t, names, "data/"+ids[0], "the root is listed through the link")
	assert.Contains(t, names, "manifests/"+ids[1]+".json")
	checked, err := b.VerifySubset(ctx, 0, 1)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, checked)
	plan, err := b.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
	require.NoError(t, err)
	assert.Len(t, plan.Forget(), 1)
}

// TestTargetSuite runs the target conformance suite on every kind of
// bucket.
func TestTargetSuite(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			backuptest.RunTargetTests(t, func(t *testing.T) backup.Target { return open(t, k.url(t), blobtarget.Options{}) })
		})
	}
}

// readerOf is a source's Open giving s.
func readerOf(s string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}
