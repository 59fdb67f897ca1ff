package flags_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
)

// guardFixture is an Evaluator serving one rollout flag, "checkout", a
// clock the test moves, and Outcomes the test fills.
type guardFixture struct {
	ev       *flags.Evaluator
	now      time.Time
	outcomes *flags.Outcomes
	mu       sync.Mutex
	changed  [][]string
}

func newGuardFixture(t *testing.T) *guardFixture {
	t.Helper()
	f := &guardFixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	flag, err := flags.RolloutFlag(flags.Rollout{Percent: 0})
	require.NoError(t, err)
	set, err := flags.Compile(flags.Definitions{Flags: map[string]flags.Flag{"checkout": flag}})
	require.NoError(t, err)
	f.ev = flags.NewEvaluator(set, flags.Options{})
	f.ev.OnChange(func(keys []string) { f.mu.Lock(); f.changed = append(f.changed, keys); f.mu.Unlock() })
	f.outcomes = flags.NewOutcomes(time.Hour, func() time.Time { return f.now })
	return f
}

func (f *guardFixture) clock() time.Time { return f.now }

// serve records n requests of the variant, failing of them.
func (f *guardFixture) serve(variant string, n, failing int) {
	for i := range n {
		f.outcomes.Record("checkout", variant, i < failing, 20*time.Millisecond)
	}
}

func (f *guardFixture) guardian(t *testing.T, onFail flags.GuardAction, guards ...flags.Guard) *flags.Guardian {
	t.Helper()
	g, err := flags.NewGuardian(f.ev.Current, flags.InMemory{Evaluator: f.ev}, flags.GuardianOptions{Now: f.clock},
		flags.GuardedRollout{Flag: "checkout", OnFail: onFail, Guards: guards, Steps: []flags.GuardedStep{
			{Percent: 5, Hold: time.Hour}, {Percent: 25, Hold: time.Hour}, {Percent: 100, Hold: time.Hour},
		}})
	require.NoError(t, err)
	return g
}

func (f *guardFixture) errorGuard() flags.Guard {
	return flags.Guard{Name: "error-ratio", Read: f.outcomes.ErrorRatio, Max: 0.05, MinSamples: 100}
}

// judgeOnce runs one Check and returns its only decision.
func judgeOnce(t *testing.T, g *flags.Guardian) flags.GuardDecision {
	t.Helper()
	ds := g.Check(context.Background())
	require.Len(t, ds, 1)
	require.NoError(t, ds[0].Err)
	return ds[0]
}

// status is the rollout's progress as every evaluation shows it.
func (f *guardFixture) status(t *testing.T) (percent int, status, reason string) {
	t.Helper()
	on := 0
	for i := range 1000 {
		if v, _ := f.ev.Bool("checkout", map[string]any{"tenantId": "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, false); v {
			on++
		}
	}
	_, d := f.ev.Bool("checkout", map[string]any{"tenantId": "x"}, false)
	status, _ = d.Metadata[flags.RolloutStatusKey].(string)
	reason, _ = d.Metadata[flags.RolloutReasonKey].(string)
	return on / 10, status, reason
}

func TestGuardedRolloutStepsWhileGuardsHold(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guardian(t, flags.GuardRollback, f.errorGuard())

	d := judgeOnce(t, g)
	assert.Equal(t, "start", d.Action)
	assert.Equal(t, 5, d.Percent)
	_, status, _ := f.status(t)
	assert.Equal(t, flags.RolloutProgressing, status)

	f.now = f.now.Add(2 * time.Hour) // past the hold, but no samples yet
	d = judgeOnce(t, g)
	assert.Equal(t, "hold", d.Action, d.Reason)
	assert.Contains(t, d.Reason, "0 of 100 samples")

	f.serve("on", 200, 2) // 1% errors
	f.serve("off", 200, 2)
	d = judgeOnce(t, g)
	assert.Equal(t, "advance", d.Action, d.Reason)
	assert.Equal(t, 25, d.Percent)

	f.now = f.now.Add(30 * time.Minute)
	f.serve("on", 200, 0)
	assert.Equal(t, "hold", judgeOnce(t, g).Action, "the step's hour has not passed")
	f.now = f.now.Add(31 * time.Minute)
	assert.Equal(t, "advance", judgeOnce(t, g).Action)
	f.now = f.now.Add(time.Hour)
	f.serve("on", 200, 0)
	d = judgeOnce(t, g)
	assert.Equal(t, "complete", d.Action, d.Reason)
	percent, status, _ := f.status(t)
	assert.Equal(t, 100, percent)
	assert.Equal(t, flags.RolloutComplete, status)
	assert.Equal(t, "none", judgeOnce(t, g).Action, "a complete rollout is left alone")
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Len(t, f.changed, 4, "start, two advances and complete each changed the flag, holding for samples did not: %v", f.changed)
	for _, keys := range f.changed {
		assert.Equal(t, []string{"checkout"}, keys)
	}
}

// TestGuardianYieldsToTheKillSwitchAndToAHandSetPercentage: a disabled
// flag, or one whose percentage an operator set off its step, is left
// alone, without a write; Resume hands it back at a step.
func TestGuardianYieldsToTheKillSwitchAndToAHandSetPercentage(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guardian(t, flags.GuardRollback, f.errorGuard())
	judgeOnce(t, g)
	f.now = f.now.Add(2 * time.Hour)
	f.serve("on", 200, 0)
	require.NoError(t, f.ev.SetState("checkout", flags.Disabled))
	d := judgeOnce(t, g)
	assert.Equal(t, "none", d.Action)
	assert.Contains(t, d.Reason, "kill switch")
	require.NoError(t, f.ev.SetState("checkout", flags.Enabled))

	require.NoError(t, f.ev.Edit(func(d *flags.Definitions) error { return d.SetPercent("checkout", 40) }))
	f.mu.Lock()
	writes := len(f.changed)
	f.mu.Unlock()
	d = judgeOnce(t, g)
	assert.Equal(t, "none", d.Action)
	assert.Contains(t, d.Reason, "set by hand to 40%")
	f.mu.Lock()
	assert.Equal(t, writes, len(f.changed), "the guardian wrote nothing")
	f.mu.Unlock()

	require.NoError(t, g.Resume(context.Background(), "checkout", "alice"))
	percent, status, _ := f.status(t)
	assert.InDelta(t, 25, percent, 4, "back at the last step at or below 40%")
	assert.Equal(t, flags.RolloutProgressing, status)
	f.now = f.now.Add(2 * time.Hour)
	f.serve("on", 200, 0)
	assert.Equal(t, "advance", judgeOnce(t, g).Action)
}

func TestGuardedRolloutRollsBackAtOnce(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guardian(t, flags.GuardRollback, f.errorGuard())
	judgeOnce(t, g)
	f.now = f.now.Add(2 * time.Hour)
	f.serve("on", 200, 0)
	require.Equal(t, "advance", judgeOnce(t, g).Action) // 5% held: now at 25%

	provider := flags.NewProvider(f.ev, flags.ProviderOptions{})
	f.now = f.now.Add(5 * time.Minute) // well within the step's hour
	f.serve("on", 200, 30)             // 30 of 200 since the step began: 15%
	d := judgeOnce(t, g)
	assert.Equal(t, "rollback", d.Action)
	ev := <-provider.EventChannel()
	assert.Equal(t, openfeature.ProviderConfigChange, ev.EventType, "OpenFeature clients hear of the rollback")
	assert.Equal(t, []string{"checkout"}, ev.FlagChanges)
	assert.Equal(t, 5, d.Percent, "back to the last percentage that held")
	assert.Contains(t, d.Reason, "guard error-ratio")
	percent, status, reason := f.status(t)
	assert.InDelta(t, 5, percent, 3)
	assert.Equal(t, flags.RolloutRolledBack, status)
	assert.Contains(t, reason, "over 0.05")

	f.now = f.now.Add(3 * time.Hour)
	assert.Equal(t, "none", judgeOnce(t, g).Action, "a rolled-back rollout waits for an operator")
	require.NoError(t, g.Resume(context.Background(), "checkout", "alice"))
	_, status, reason = f.status(t)
	assert.Equal(t, flags.RolloutProgressing, status)
	assert.Equal(t, "resumed by alice", reason)
	f.now = f.now.Add(2 * time.Hour)
	f.serve("on", 200, 0)
	d = judgeOnce(t, g)
	assert.Equal(t, "advance", d.Action, d.Reason)
	assert.Equal(t, 25, d.Percent, "resumed from 5%, the next step is 25% again")
}

func TestGuardedRolloutPausesOnRegressionAgainstControl(t *testing.T) {
	f := newGuardFixture(t)
	latency := flags.Guard{Name: "latency", Read: f.outcomes.MeanLatency, MaxIncrease: 0.5, MinSamples: 10}
	g := f.guardian(t, flags.GuardPause, latency)
	judgeOnce(t, g)
	f.now = f.now.Add(2 * time.Minute) // metrics count whole minutes after the step began
	for range 50 {
		f.outcomes.Record("checkout", "off", false, 100*time.Millisecond)
		f.outcomes.Record("checkout", "on", false, 180*time.Millisecond) // 80% slower
	}
	d := judgeOnce(t, g)
	assert.Equal(t, "pause", d.Action)
	assert.Contains(t, d.Reason, "more than 50% worse")
	percent, status, _ := f.status(t)
	assert.InDelta(t, 5, percent, 3, "a pause keeps the percentage")
	assert.Equal(t, flags.RolloutPaused, status)
}

func TestGuardedRolloutHoldsWhenItsMetricFails(t *testing.T) {
	f := newGuardFixture(t)
	broken := flags.Guard{Name: "slo-burn", Read: func(context.Context, string, string, time.Time) (flags.Measure, error) {
		return flags.Measure{}, errors.New("prometheus unreachable")
	}, Max: 2}
	g := f.guardian(t, flags.GuardRollback, broken)
	judgeOnce(t, g)
	f.now = f.now.Add(10 * time.Hour)
	for range 3 {
		d := judgeOnce(t, g)
		assert.Equal(t, "hold", d.Action)
		assert.Contains(t, d.Reason, "slo-burn: metric unavailable, holding: prometheus unreachable")
	}
	percent, status, reason := f.status(t)
	assert.InDelta(t, 5, percent, 3)
	assert.Equal(t, flags.RolloutProgressing, status)
	assert.Contains(t, reason, "prometheus unreachable", "the flag says why it holds")
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Len(t, f.changed, 2, "the start, then the reason once, not at every check")
}

// TestGuardiansOfReplicasActOnce: two replicas' Guardians judging the
// same state change it once; the one that read it before the other's
// change does nothing.
func TestGuardiansOfReplicasActOnce(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guardian(t, flags.GuardRollback, f.errorGuard())
	judgeOnce(t, g)
	f.now = f.now.Add(2 * time.Hour)
	f.serve("on", 200, 0)
	stale := f.ev.Current()
	other, err := flags.NewGuardian(func() *flags.Set { return stale }, flags.InMemory{Evaluator: f.ev}, flags.GuardianOptions{Now: f.clock},
		flags.GuardedRollout{Flag: "checkout", Guards: []flags.Guard{f.errorGuard()}, Steps: []flags.GuardedStep{{Percent: 5, Hold: time.Hour}, {Percent: 25, Hold: time.Hour}, {Percent: 100}}})
	require.NoError(t, err)
	assert.Equal(t, "advance", judgeOnce(t, g).Action)
	assert.Equal(t, "advance", judgeOnce(t, other).Action, "it judged the state it read")
	percent, _, _ := f.status(t)
	assert.InDelta(t, 25, percent, 4, "but advanced nothing: 25%, not 100%")
}

func TestGuardedRolloutIsValidated(t *testing.T) {
	read := func(context.Context, string, string, time.Time) (flags.Measure, error) { return flags.Measure{}, nil }
	for name, r := range map[string]flags.GuardedRollout{
		"no steps":       {Flag: "f"},
		"no flag":        {Steps: []flags.GuardedStep{{Percent: 5}}},
		"falling steps":  {Flag: "f", Steps: []flags.GuardedStep{{Percent: 50}, {Percent: 20}}},
		"over 100":       {Flag: "f", Steps: []flags.GuardedStep{{Percent: 150}}},
		"guard unnamed":  {Flag: "f", Steps: []flags.GuardedStep{{Percent: 5}}, Guards: []flags.Guard{{Read: read}}},
		"guard no read":  {Flag: "f", Steps: []flags.GuardedStep{{Percent: 5}}, Guards: []flags.Guard{{Name: "g"}}},
		"negative limit": {Flag: "f", Steps: []flags.GuardedStep{{Percent: 5}}, Guards: []flags.Guard{{Name: "g", Read: read, Max: -1}}},
	} {
		_, err := flags.NewGuardian(nil, nil, flags.GuardianOptions{}, r)
		assert.ErrorIs(t, err, flags.ErrInvalidDefinitions, name)
	}
}

func TestOutcomesCountWholeMinutesAfterSinceWithinTheWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	o := flags.NewOutcomes(time.Hour, func() time.Time { return now })
	o.Record("f", "on", true, time.Second) // in the minute since falls in: left out
	now = now.Add(time.Minute)
	o.Record("f", "on", false, 3*time.Second)
	o.Record("f", "on", true, time.Second)
	o.Record("f", "off", false, time.Second)
	ctx := context.Background()
	m, err := o.ErrorRatio(ctx, "f", "on", now.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, flags.Measure{Value: 0.5, Samples: 2}, m)
	m, err = o.MeanLatency(ctx, "f", "on", now.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, flags.Measure{Value: 2, Samples: 2}, m)
	m, err = o.ErrorRatio(ctx, "f", "none", now.Add(-time.Minute))
	require.NoError(t, err)
	assert.Zero(t, m.Samples)

	now = now.Add(2 * time.Hour)
	o.Record("f", "on", false, time.Second) // a new minute drops those out of the window
	m, err = o.ErrorRatio(ctx, "f", "on", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, flags.Measure{Value: 0, Samples: 1}, m)
}
