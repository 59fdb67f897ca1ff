package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// TestInsightsRolloutIsGuarded: the demo starts usage-insights' guarded
// rollout before serving, a restart finds it started, and a failing
// insights API rolls it back on its own, audited under the guardian.
func TestInsightsRolloutIsGuarded(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, stop := context.WithCancel(context.Background())
	f, done, err := newFeatures(ctx, db.DB, io.Discard, logger)
	require.NoError(t, err)
	t.Cleanup(func() { <-done })
	meta := f.ev.Current().Definitions().Flags[insightsFlag].Metadata
	assert.Equal(t, flags.RolloutProgressing, meta[flags.RolloutStatusKey], "started before the first request")

	restarted, doneAgain, err := newFeatures(ctx, db.DB, io.Discard, logger)
	require.NoError(t, err)
	t.Cleanup(func() { <-doneAgain })
	t.Cleanup(stop) // cleanups run last first: stop, then wait for both
	assert.Equal(t, meta, restarted.ev.Current().Definitions().Flags[insightsFlag].Metadata, "a restart goes on from where it stands")

	// Two minutes on, the insights API fails with the feature on.
	later := time.Now().Add(2 * time.Minute)
	clock := func() time.Time { return later }
	outcomes := flags.NewOutcomes(time.Hour, clock)
	for range 60 {
		outcomes.Record(insightsFlag, "on", true, time.Millisecond)
	}
	g, err := flags.NewGuardian(f.ev.Current, f.store, flags.GuardianOptions{Now: clock, Logger: logger}, insightsRollout(outcomes))
	require.NoError(t, err)
	d := g.Check(ctx)
	require.Len(t, d, 1)
	require.NoError(t, d[0].Err)
	assert.Equal(t, "rollback", d[0].Action, d[0].Reason)
	assert.Contains(t, d[0].Reason, "insights-error-ratio")

	data, err := f.store.Load(ctx)
	require.NoError(t, err)
	var defs flags.Definitions
	require.NoError(t, json.Unmarshal(data, &defs))
	assert.Equal(t, flags.RolloutRolledBack, defs.Flags[insightsFlag].Metadata[flags.RolloutStatusKey])
	trail, err := f.store.Audit(ctx, "flag", insightsFlag, 1)
	require.NoError(t, err)
	require.Len(t, trail, 1)
	assert.Equal(t, "guardian", trail[0].Actor)
	assert.Equal(t, "rollout_rollback", trail[0].Action)
}
