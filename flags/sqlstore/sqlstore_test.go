package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/flagstest"
	"github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T, db *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db.DB, sqlstore.Options{Poll: 20 * time.Millisecond, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// seed stores ring internal (acme) and a rollout flag "invoices" for
// that ring and 0% of other tenants.
func seed(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.SetRing(ctx, "ada", "internal", "", "acme"))
	f, err := flags.RolloutFlag(flags.Rollout{Ring: "internal"})
	require.NoError(t, err)
	require.NoError(t, s.PutFlag(ctx, "ada", "invoices", f))
}

func load(t *testing.T, s *sqlstore.Store) *flags.Evaluator {
	t.Helper()
	data, err := s.Load(context.Background())
	require.NoError(t, err)
	set, err := flags.Parse(data)
	require.NoError(t, err)
	return flags.NewEvaluator(set, flags.Options{})
}

func on(ev *flags.Evaluator, tenant string) bool {
	v, _ := ev.Bool("invoices", map[string]any{flags.TenantAttribute: tenant}, false)
	return v
}

func TestAdminOperationsAndAudit(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		seed(t, s)
		ev := load(t, s)
		assert.True(t, on(ev, "acme"))
		assert.False(t, on(ev, "globex"))

		require.NoError(t, s.AddToRing(ctx, "bob", "internal", "globex"))
		require.NoError(t, s.SetPercent(ctx, "bob", "invoices", 100))
		ev = load(t, s)
		assert.True(t, on(ev, "globex"))
		assert.True(t, on(ev, "hooli"), "100%")

		require.NoError(t, s.SetState(ctx, "carol", "invoices", flags.Disabled))
		_, d := load(t, s).Bool("invoices", nil, false)
		assert.Equal(t, flags.ReasonDisabled, d.Reason, "killed")

		trail, err := s.Audit(ctx, "flag", "invoices", 0)
		require.NoError(t, err)
		require.Len(t, trail, 3, "put, set_percent, set_state")
		assert.Equal(t, "carol", trail[0].Actor)
		assert.Equal(t, "set_state", trail[0].Action)
		assert.Contains(t, trail[0].Before, `"ENABLED"`)
		assert.Contains(t, trail[0].After, `"DISABLED"`)
		assert.Equal(t, t0, trail[0].At)
		assert.Equal(t, "put_flag", trail[2].Action)
		assert.Empty(t, trail[2].Before, "created")
		ring, err := s.Audit(ctx, "evaluator", "ring:internal", 0)
		require.NoError(t, err)
		require.Len(t, ring, 2)
		assert.Equal(t, "add_to_ring", ring[0].Action)

		// Refused edits write nothing.
		all, err := s.Audit(ctx, "", "", 0)
		require.NoError(t, err)
		assert.ErrorIs(t, s.SetState(ctx, "dan", "nope", flags.Disabled), flags.ErrNotFound)
		assert.ErrorIs(t, s.PutFlag(ctx, "dan", "broken", flags.Flag{State: "MAYBE"}), flags.ErrInvalidDefinitions)
		assert.ErrorIs(t, s.SetPercent(ctx, "dan", "invoices", 300), flags.ErrInvalidDefinitions)
		assert.Error(t, s.SetState(ctx, "", "invoices", flags.Enabled), "an edit needs an actor")
		require.NoError(t, s.SetState(ctx, "dan", "invoices", flags.Disabled), "no change")
		after, err := s.Audit(ctx, "", "", 0)
		require.NoError(t, err)
		assert.Equal(t, len(all), len(after), "nothing audited")

		require.NoError(t, s.DeleteFlag(ctx, "erin", "invoices"))
		_, d = load(t, s).Bool("invoices", nil, false)
		assert.Equal(t, flags.FlagNotFound, d.ErrorCode)
	})
}

// TestChangesReachOtherProcesses syncs an Evaluator from a second handle
// on the database, as another process would, with the sync's own poll
// set to an hour: the change must come through Watch (NOTIFY on
// PostgreSQL, the version poll on SQLite), within a second.
func TestChangesReachOtherProcesses(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		admin := newStore(t, db)
		seed(t, admin)
		other, err := sqlstore.New(sqldbtest.Reopen(t, db).DB, sqlstore.Options{Poll: 20 * time.Millisecond})
		require.NoError(t, err)
		ev := flags.NewEvaluator(nil, flags.Options{})
		done := make(chan struct{})
		go func() { defer close(done); _ = flags.Sync(ctx, ev, other, flags.SyncOptions{Poll: time.Hour}) }()
		defer func() { cancel(); <-done }()
		await.True(t, func() bool { return on(ev, "acme") })

		// Sync's poll is an hour, and its watch is armed when Watch
		// returns, which Sync did before the first load served acme: only
		// the watch can carry the kill switch across.
		require.NoError(t, admin.SetState(ctx, "ops", "invoices", flags.Disabled))
		await.True(t, func() bool { return !on(ev, "acme") }, "the kill switch never reached the other process")
	})
}

func TestConformance(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		flagstest.RunSourceTests(t, func(t *testing.T) (flags.Source, func(flags.Definitions)) {
			return s, func(d flags.Definitions) {
				require.NoError(t, s.Edit(context.Background(), "test", "replace", func(cur *flags.Definitions) error {
					*cur = d
					return nil
				}))
			}
		})
	})
}

func TestFlagSetsAreStored(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		seed(t, s)
		boolFlag := func(on bool) flags.Flag {
			return flags.Flag{State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: map[bool]string{true: "on", false: "off"}[on]}
		}
		require.NoError(t, s.Edit(ctx, "ada", "add_sets", func(d *flags.Definitions) error {
			d.Sets = map[string]flags.Definitions{
				"frontend": {Flags: map[string]flags.Flag{"invoices": boolFlag(true), "dark": boolFlag(true)}, Metadata: map[string]any{"team": "web"}},
				"backend":  {Flags: map[string]flags.Flag{}},
			}
			return nil
		}))
		data, err := s.Load(ctx)
		require.NoError(t, err)
		set, err := flags.Parse(data)
		require.NoError(t, err)
		assert.Equal(t, []string{"backend", "frontend"}, set.FlagSets(), "an empty set is kept")

		front := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
		v, d := front.Bool("invoices", nil, false)
		assert.True(t, v, "the frontend set's own invoices flag")
		assert.Equal(t, "web", d.Metadata["team"])
		dark, _ := front.Bool("dark", nil, false)
		assert.True(t, dark)
		top := flags.NewEvaluator(set, flags.Options{Sets: []string{""}})
		assert.False(t, on(top, "globex"), "the top-level invoices flag")

		require.NoError(t, s.Edit(ctx, "bob", "kill_dark", func(d *flags.Definitions) error {
			front := d.Sets["frontend"]
			if err := front.SetState("dark", flags.Disabled); err != nil {
				return err
			}
			d.Sets["frontend"] = front
			delete(d.Sets, "backend")
			return nil
		}))
		trail, err := s.Audit(ctx, "flag", "dark", 0)
		require.NoError(t, err)
		require.Len(t, trail, 2)
		assert.Equal(t, "frontend", trail[0].FlagSet)
		assert.Equal(t, "kill_dark", trail[0].Action)
		data, err = s.Load(ctx)
		require.NoError(t, err)
		set, err = flags.Parse(data)
		require.NoError(t, err)
		assert.Equal(t, []string{"frontend"}, set.FlagSets())
	})
}
