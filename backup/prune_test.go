package backup_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/internal/testclock"
)

// TestPruneWithGFS takes 20 daily backups, prunes to 7 dailies (GFS
// keeps more: weeks, months), and checks the forgotten ones are gone
// from the targets while a backup being restored is kept.
func TestPruneWithGFS(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC))
	mem := backup.NewMemoryTarget("m")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	var ids []string
	for range 20 {
		m, err := b.Run(ctx, bytesSource([]byte("nightly")))
		require.NoError(t, err)
		ids = append(ids, m.ID)
		clock.Advance(24 * time.Hour)
	}
	_, err = b.Prune(ctx, retention.Policy{}, retention.Options{})
	assert.ErrorIs(t, err, retention.ErrEmptyPolicy, "an empty policy is refused")

	plan, err := b.Plan(ctx, retention.Policy{Daily: 7}, retention.Options{})
	require.NoError(t, err)
	assert.Len(t, plan.Keep(), 7, "a dry run changes nothing")
	all, _ := b.Manifests(ctx)
	assert.Len(t, all, 20)

	// A restore of the oldest backup is in progress while pruning.
	pr, pw := io.Pipe()
	restoring := make(chan error, 1)
	go func() { restoring <- b.Restore(ctx, ids[0], pw) }()
	buf := make([]byte, 1)
	_, _ = pr.Read(buf) // the restore has started writing
	plan, err = b.Prune(ctx, retention.Policy{Daily: 7}, retention.Options{})
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	require.NoError(t, <-restoring)
	pw.Close()

	all, err = b.Manifests(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 8, "7 dailies and the one being restored")
	left := map[string]bool{}
	for _, m := range all {
		left[m.ID] = true
	}
	assert.True(t, left[ids[0]], "held by the restore")
	assert.True(t, left[ids[19]], "the newest")
	names, _ := mem.List(ctx, "data/")
	assert.Len(t, names, 8, "the forgotten backups' data is gone too")
	_ = plan
}
