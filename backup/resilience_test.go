package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/testclock"
)

// manifestFails refuses manifests: a quota hit at the last step.
type manifestFails struct{ *backup.MemoryTarget }

func (m manifestFails) Put(ctx context.Context, name string, r io.Reader) error {
	if strings.HasPrefix(name, "manifests/") {
		return errors.New("quota exceeded")
	}
	return m.MemoryTarget.Put(ctx, name, r)
}

// unlisted cannot be listed: an offsite target that is down.
type unlisted struct{ *backup.MemoryTarget }

func (unlisted) List(context.Context, string) ([]string, error) {
	return nil, errors.New("unreachable")
}

func TestABackupIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	good, bad := backup.NewMemoryTarget("good"), manifestFails{backup.NewMemoryTarget("bad")}
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{good, bad}, backup.Options{})
	require.NoError(t, err)
	_, err = b.Run(ctx, bytesSource([]byte("payroll")))
	require.ErrorContains(t, err, "quota exceeded")
	for _, tgt := range []*backup.MemoryTarget{good, bad.MemoryTarget} {
		names, _ := tgt.List(ctx, "")
		assert.Empty(t, names, "%s keeps nothing of the failed backup", tgt.Name())
	}
}

func TestCatalogSurvivesAnUnreachableTarget(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	local := backup.NewMemoryTarget("local")
	offsite := unlisted{backup.NewMemoryTarget("offsite")}
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{local, offsite}, backup.Options{})
	require.NoError(t, err)
	m, err := b.Run(ctx, bytesSource([]byte("ledger")))
	require.NoError(t, err)
	all, err := b.Manifests(ctx)
	require.NoError(t, err, "one readable target is enough")
	require.Len(t, all, 1)
	assert.Equal(t, m.ID, all[0].ID)
	var out bytes.Buffer
	require.NoError(t, b.Restore(ctx, m.ID, &out))
	assert.Equal(t, "ledger", out.String())
}

// TestSchedulersShareTheCatalog: two processes on shared targets and
// leases back up once per interval between them, and neither reports an
// RPO violation for a backup the other made.
func TestSchedulersShareTheCatalog(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	shared := backup.NewMemoryTarget("shared")
	leases := backup.NewMemoryLeases(clock.Now)
	job := backup.Job{Name: "db", Source: bytesSource([]byte("db")), Every: time.Hour}
	var scheds []*backup.Scheduler
	for _, holder := range []string{"a", "b"} {
		b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{shared}, backup.Options{Now: clock.Now})
		require.NoError(t, err)
		s, err := backup.NewScheduler(b, []backup.Job{job}, backup.SchedulerOptions{Holder: holder, Leases: leases, Now: clock.Now})
		require.NoError(t, err)
		scheds = append(scheds, s)
	}
	for range 3 {
		for _, s := range scheds {
			s.RunDue(ctx)
		}
		clock.Advance(10 * time.Minute)
	}
	names, _ := shared.List(ctx, "manifests/")
	assert.Len(t, names, 1, "one backup in the interval, whoever made it")
	for _, s := range scheds {
		st, _ := s.Status("db")
		assert.False(t, st.RPOViolated)
	}
}
