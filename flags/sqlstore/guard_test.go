package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// TestGuardedRolloutIsStoredAndAudited: a Guardian editing the store
// leaves its progress in the stored flag, so a Guardian started afresh
// (a restart, another replica) goes on from it, and each of its changes
// is in the audit trail under its name, with the reason.
func TestGuardedRolloutIsStoredAndAudited(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		seed(t, s)
		now := t0
		outcomes := flags.NewOutcomes(time.Hour, func() time.Time { return now })
		rollout := flags.GuardedRollout{Flag: "invoices",
			Steps:  []flags.GuardedStep{{Percent: 10, Hold: time.Hour}, {Percent: 50, Hold: time.Hour}},
			Guards: []flags.Guard{{Name: "error-ratio", Read: outcomes.ErrorRatio, Max: 0.05, MinSamples: 10}}}
		newGuardian := func() *flags.Guardian {
			g, err := flags.NewGuardian(func() *flags.Set { return load(t, s).Current() }, s, flags.GuardianOptions{Now: func() time.Time { return now }}, rollout)
			require.NoError(t, err)
			return g
		}
		decide := func(g *flags.Guardian) flags.GuardDecision {
			ds := g.Check(ctx)
			require.Len(t, ds, 1)
			require.NoError(t, ds[0].Err)
			return ds[0]
		}

		assert.Equal(t, "start", decide(newGuardian()).Action)
		now = now.Add(2 * time.Hour)
		for range 20 {
			outcomes.Record("invoices", "on", false, time.Millisecond)
		}
		d := decide(newGuardian()) // a restart: the step and its start come from the store
		assert.Equal(t, "advance", d.Action, d.Reason)
		assert.Equal(t, 50, d.Percent)

		now = now.Add(time.Minute)
		for range 20 {
			outcomes.Record("invoices", "on", true, time.Millisecond)
		}
		assert.Equal(t, "rollback", decide(newGuardian()).Action)
		_, detail := load(t, s).Bool("invoices", map[string]any{flags.TenantAttribute: "globex"}, false)
		assert.Equal(t, flags.RolloutRolledBack, detail.Metadata[flags.RolloutStatusKey])
		assert.EqualValues(t, 10, detail.Metadata[flags.RolloutLastGoodKey])

		audit, err := s.Audit(ctx, "flag", "invoices", 10)
		require.NoError(t, err)
		var actions []string
		for _, e := range audit {
			if e.Actor == "guardian" {
				actions = append(actions, e.Action)
			}
		}
		assert.ElementsMatch(t, []string{"rollout_start", "rollout_advance", "rollout_rollback"}, actions)
		assert.Contains(t, audit[0].After, "guard error-ratio", "the newest entry says why")
	})
}
