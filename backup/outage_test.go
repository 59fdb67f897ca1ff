package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/testclock"
)

// downFirst refuses its first data Puts without reading a byte: a
// target whose service is down, then back.
type downFirst struct {
	*backup.MemoryTarget
	down  int32
	calls atomic.Int32
}

func (d *downFirst) Put(ctx context.Context, name string, r io.Reader) error {
	if strings.HasPrefix(name, "data/") && d.calls.Add(1) <= d.down {
		return errors.New("dial tcp 10.0.0.9:443: connect: connection refused")
	}
	return d.MemoryTarget.Put(ctx, name, r)
}

// TestTargetOutageIsNotAKeyFailure: a target that fails before reading
// (a store down, a directory that cannot be made) fails the run with an
// error naming the stage and the target, not ErrNoKey, and nothing is
// left on the other targets; the key service down is still ErrNoKey.
func TestTargetOutageIsNotAKeyFailure(t *testing.T) {
	ctx := context.Background()
	keys, root := newKeyring(t)

	blocked := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(blocked, "data"), nil, 0o600)) // data/ cannot be made
	dir, err := backup.NewDirTarget(blocked)
	require.NoError(t, err)
	down := &downFirst{MemoryTarget: backup.NewMemoryTarget("offsite"), down: 1 << 20}
	for _, tc := range []struct {
		failing backup.Target
		why     string
	}{
		{dir, "not a directory"},
		{down, "connection refused"},
	} {
		ok := backup.NewMemoryTarget("ok")
		b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{ok, tc.failing}, backup.Options{})
		require.NoError(t, err)
		_, err = b.Run(ctx, bytesSource(bytes.Repeat([]byte("ledger "), 100_000)))
		require.Error(t, err)
		assert.NotErrorIs(t, err, backup.ErrNoKey, "a target outage is not a key failure")
		assert.NotContains(t, err.Error(), "no backup key")
		assert.Contains(t, err.Error(), "store: target "+tc.failing.Name()+": ")
		assert.Contains(t, err.Error(), tc.why)
		names, _ := ok.List(ctx, "")
		assert.Empty(t, names, "nothing left on the target that worked")
	}

	root.SetDown(true)
	b, err := backup.New(backup.KeyringCipher(keys, "fresh-tenant"), []backup.Target{backup.NewMemoryTarget("m")}, backup.Options{})
	require.NoError(t, err)
	_, err = b.Run(ctx, bytesSource([]byte("ledger")))
	assert.ErrorIs(t, err, backup.ErrNoKey)
	assert.Contains(t, err.Error(), "encrypt: ")
}

// TestSchedulerRetriesATargetOutage: the Scheduler retries a run that
// failed on a target outage (it waits its backoff, about a second),
// where a key failure would have been given up at once.
func TestSchedulerRetriesATargetOutage(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	down := &downFirst{MemoryTarget: backup.NewMemoryTarget("offsite"), down: 1}
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{down}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	s, err := backup.NewScheduler(b, []backup.Job{{Name: "ledger", Source: bytesSource([]byte("ledger")), Every: time.Hour}},
		backup.SchedulerOptions{Now: clock.Now})
	require.NoError(t, err)
	s.RunDue(ctx)
	st, _ := s.Status("ledger")
	assert.Empty(t, st.LastError)
	assert.NotEmpty(t, st.LastBackup, "the second attempt made it")
	assert.EqualValues(t, 2, down.calls.Load())
}
