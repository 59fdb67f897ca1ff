package flags_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// rolloutDefinitions has rings internal (acme) then beta (globex) and a
// flag "invoices" rolled out to beta plus pct percent of other tenants.
func rolloutDefinitions(t *testing.T, r flags.Rollout) flags.Definitions {
	t.Helper()
	d := flags.Definitions{Flags: map[string]flags.Flag{}}
	require.NoError(t, d.SetRing("internal", "", "acme"))
	require.NoError(t, d.SetRing("beta", "internal", "globex", "initech"))
	f, err := flags.RolloutFlag(r)
	require.NoError(t, err)
	d.Flags["invoices"] = f
	return d
}

func evaluator(t *testing.T, d flags.Definitions, opts flags.Options) *flags.Evaluator {
	t.Helper()
	return flags.NewEvaluator(mustCompile(t, d), opts)
}

func tenantCtx(id string) map[string]any { return map[string]any{flags.TenantAttribute: id} }

func TestRingsAreCumulative(t *testing.T) {
	ev := evaluator(t, rolloutDefinitions(t, flags.Rollout{Ring: "beta"}), flags.Options{})
	for tenant, want := range map[string]bool{"acme": true, "globex": true, "initech": true, "hooli": false} {
		on, d := ev.Bool("invoices", tenantCtx(tenant), false)
		assert.Equal(t, want, on, tenant)
		assert.Equal(t, flags.ReasonTargetingMatch, d.Reason)
	}
	ev = evaluator(t, rolloutDefinitions(t, flags.Rollout{Ring: "internal"}), flags.Options{})
	on, _ := ev.Bool("invoices", tenantCtx("globex"), false)
	assert.False(t, on, "beta is after internal")

	d := rolloutDefinitions(t, flags.Rollout{})
	tenants, after, ok := d.RingTenants("beta")
	require.True(t, ok)
	assert.Equal(t, []string{"globex", "initech"}, tenants)
	assert.Equal(t, "internal", after)
	assert.Equal(t, []string{"beta", "internal"}, d.Rings())
	assert.ErrorIs(t, d.SetRing("ga", "nope"), flags.ErrInvalidDefinitions, "unknown ring to follow")
	assert.ErrorIs(t, d.SetRing("internal", "beta", "acme"), flags.ErrInvalidDefinitions, "a cycle")
	assert.ErrorIs(t, d.SetRing("bad name", ""), flags.ErrInvalidDefinitions)
}

// TestPercentageBucketsByTenant: every user of a tenant gets the same
// answer, and about the given share of tenants is in.
func TestPercentageBucketsByTenant(t *testing.T) {
	ev := evaluator(t, rolloutDefinitions(t, flags.Rollout{Percent: 30}), flags.Options{})
	in := 0
	const tenants = 10_000
	for i := range tenants {
		ctx := map[string]any{flags.TenantAttribute: fmt.Sprint("t", i), "targetingKey": "u1"}
		first, _ := ev.Bool("invoices", ctx, false)
		ctx["targetingKey"] = "u2"
		second, _ := ev.Bool("invoices", ctx, false)
		require.Equal(t, first, second, "users of one tenant are bucketed together")
		if first {
			in++
		}
	}
	assert.InDelta(t, 0.30, float64(in)/tenants, 0.015)
}

// TestRaisingAPercentageKeepsEveryoneIn is the stickiness property over
// tenants: each step of a rollout only adds tenants.
func TestRaisingAPercentageKeepsEveryoneIn(t *testing.T) {
	was := map[string]bool{}
	for _, pct := range []int{1, 5, 10, 25, 50, 100} {
		ev := evaluator(t, rolloutDefinitions(t, flags.Rollout{Percent: pct}), flags.Options{})
		for i := range 5000 {
			tenant := fmt.Sprint("tenant-", i)
			on, _ := ev.Bool("invoices", tenantCtx(tenant), false)
			if was[tenant] {
				require.True(t, on, "%s was in before %d%%", tenant, pct)
			}
			was[tenant] = on
		}
	}
}

func TestProgressiveRolloutStepsWithTheClock(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := testclock.New(start.Add(-time.Hour))
	d := rolloutDefinitions(t, flags.Rollout{Percent: 0, Steps: []flags.Step{
		{At: start, Percent: 10}, {At: start.Add(24 * time.Hour), Percent: 50}, {At: start.Add(48 * time.Hour), Percent: 100},
	}})
	ev := evaluator(t, d, flags.Options{Now: clock.Now})
	share := func() float64 {
		in := 0
		for i := range 4000 {
			if on, _ := ev.Bool("invoices", tenantCtx(fmt.Sprint("t", i)), false); on {
				in++
			}
		}
		return float64(in) / 4000
	}
	assert.Zero(t, share(), "before the first step")
	clock.Advance(time.Hour)
	assert.InDelta(t, 0.10, share(), 0.02)
	clock.Advance(24 * time.Hour)
	assert.InDelta(t, 0.50, share(), 0.03)
	clock.Advance(24 * time.Hour)
	assert.Equal(t, 1.0, share())

	_, err := flags.RolloutFlag(flags.Rollout{Steps: []flags.Step{{At: start, Percent: 5}, {At: start, Percent: 6}}})
	assert.ErrorIs(t, err, flags.ErrInvalidDefinitions, "steps out of order")
	_, err = flags.RolloutFlag(flags.Rollout{Percent: 101})
	assert.ErrorIs(t, err, flags.ErrInvalidDefinitions)
}

func TestKillSwitchAndEdits(t *testing.T) {
	ev := evaluator(t, rolloutDefinitions(t, flags.Rollout{Percent: 100}), flags.Options{})
	var changes [][]string
	ev.OnChange(func(keys []string) { changes = append(changes, keys) })

	require.NoError(t, ev.SetState("invoices", flags.Disabled))
	on, d := ev.Bool("invoices", tenantCtx("acme"), false)
	assert.False(t, on)
	assert.Equal(t, flags.ReasonDisabled, d.Reason)
	assert.Empty(t, d.Variant)
	assert.Equal(t, [][]string{{"invoices"}}, changes)

	require.NoError(t, ev.SetState("invoices", flags.Enabled))
	on, _ = ev.Bool("invoices", tenantCtx("acme"), false)
	assert.True(t, on)
	assert.ErrorIs(t, ev.SetState("nope", flags.Disabled), flags.ErrNotFound)

	err := ev.Edit(func(d *flags.Definitions) error {
		f := d.Flags["invoices"]
		f.DefaultVariant = "missing"
		d.Flags["invoices"] = f
		return nil
	})
	assert.ErrorIs(t, err, flags.ErrInvalidDefinitions, "an invalid edit is refused")
	on, _ = ev.Bool("invoices", tenantCtx("acme"), false)
	assert.True(t, on, "and changes nothing")
}

func TestPrerequisites(t *testing.T) {
	d := flags.Definitions{Flags: map[string]flags.Flag{
		"billing-v2": {State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
			Targeting: map[string]any{"if": []any{map[string]any{"==": []any{map[string]any{"var": "plan"}, "pro"}}, "on"}}},
		"invoices": {State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
			Targeting:     map[string]any{"if": []any{true, "on"}},
			Prerequisites: []flags.Prerequisite{{Flag: "billing-v2", Variant: "on"}}},
	}}
	ev := evaluator(t, d, flags.Options{})
	on, detail := ev.Bool("invoices", map[string]any{"plan": "pro"}, false)
	assert.True(t, on)
	assert.Equal(t, flags.ReasonTargetingMatch, detail.Reason)
	on, detail = ev.Bool("invoices", map[string]any{"plan": "free"}, false)
	assert.False(t, on, "billing-v2 is off for free plans")
	assert.Equal(t, flags.ReasonDefault, detail.Reason)
	require.NoError(t, ev.SetState("billing-v2", flags.Disabled))
	on, _ = ev.Bool("invoices", map[string]any{"plan": "pro"}, false)
	assert.False(t, on, "a disabled prerequisite is not met")

	d.Flags["billing-v2"] = flags.Flag{State: flags.Enabled, Variants: map[string]any{"on": true}, DefaultVariant: "on",
		Prerequisites: []flags.Prerequisite{{Flag: "invoices", Variant: "on"}}}
	set, err := flags.Compile(d)
	require.ErrorIs(t, err, flags.ErrInvalidDefinitions)
	assert.Contains(t, err.Error(), "cycle")
	_, detail = flags.NewEvaluator(set, flags.Options{}).Bool("invoices", nil, false)
	assert.Equal(t, flags.ParseError, detail.ErrorCode)

	d.Flags["billing-v2"] = flags.Flag{State: flags.Enabled, Variants: map[string]any{"on": true}, DefaultVariant: "on",
		Prerequisites: []flags.Prerequisite{{Flag: "ghost", Variant: "on"}}}
	_, err = flags.Compile(d)
	var de *flags.DefinitionError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "/flags/billing-v2/prerequisites/0", de.Path)
}

func TestTenantContext(t *testing.T) {
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "pro", Region: "eu"})
	attrs := flags.TenantContext(ctx, map[string]any{"targetingKey": "u1", "tenantPlan": "override"})
	assert.Equal(t, map[string]any{"targetingKey": "u1", "tenantId": "acme", "tenantPlan": "override", "tenantRegion": "eu"}, attrs)
	assert.Empty(t, flags.TenantContext(context.Background(), nil), "no tenant, no attributes")

	used := tenancy.WithUsage(ctx, map[string]int64{"api_calls": 120})
	assert.Equal(t, map[string]any{"api_calls": int64(120)}, flags.TenantContext(used, nil)[flags.UsageAttribute])
	set := flags.TenantContext(used, map[string]any{flags.UsageAttribute: "mine"})
	assert.Equal(t, "mine", set[flags.UsageAttribute], "an attribute already set wins")
	assert.NotContains(t, flags.TenantContext(tenancy.WithUsage(context.Background(), map[string]int64{"api_calls": 1}), nil),
		flags.UsageAttribute, "usage without a tenant is no one's")
}

// TestTargetingByUsage: a rule offers an upgrade banner to tenants that
// used more than 80% of their plan's 1,000 API calls this month, as
// tenancy.Metering's Middleware counts them.
func TestTargetingByUsage(t *testing.T) {
	d := flags.Definitions{Flags: map[string]flags.Flag{"upgrade-banner": {
		State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
		Targeting: map[string]any{"if": []any{map[string]any{">": []any{map[string]any{"var": "tenantUsage.api_calls"}, 800}}, "on"}},
	}}}
	ev := evaluator(t, d, flags.Options{})

	ent, err := tenancy.NewEntitlements(map[string]tenancy.Plan{"free": {Limits: map[string]int64{"api_calls": 1000}}})
	require.NoError(t, err)
	m, err := tenancy.NewMetering(memstore.New(), ent, tenancy.MeteringOptions{})
	require.NoError(t, err)
	banner := func(tenant string) bool {
		var on bool
		mw, err := m.Middleware("api_calls")
		require.NoError(t, err)
		h := mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			on, _ = ev.Bool("upgrade-banner", flags.TenantContext(r.Context(), nil), false)
		}))
		ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: tenant, Plan: "free"})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		return on
	}

	heavy := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "heavy", Plan: "free"})
	_, err = m.Consume(heavy, "api_calls", 800)
	require.NoError(t, err)
	assert.True(t, banner("heavy"), "the 801st call is over 800")
	assert.False(t, banner("light"), "a tenant's first call is not")
	on, _ := ev.Bool("upgrade-banner", flags.TenantContext(context.Background(), nil), false)
	assert.False(t, on, "no tenant, no usage")
}

// TestEvaluationsDuringReloads evaluates from several goroutines while
// the definitions are replaced and flags killed and revived: under
// -race, and every answer is one of the two definitions' answers.
func TestEvaluationsDuringReloads(t *testing.T) {
	d10 := rolloutDefinitions(t, flags.Rollout{Percent: 10})
	d90 := rolloutDefinitions(t, flags.Rollout{Percent: 90})
	sets := []*flags.Set{mustCompile(t, d10), mustCompile(t, d90)}
	ev := flags.NewEvaluator(sets[0], flags.Options{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev.Update(sets[i%2])
			_ = ev.SetState("invoices", []flags.State{flags.Disabled, flags.Enabled}[i%2])
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				_, d := ev.Bool("invoices", tenantCtx(fmt.Sprint("t", g, "-", i)), false)
				if d.ErrorCode != 0 || (d.Reason != flags.ReasonTargetingMatch && d.Reason != flags.ReasonDisabled) {
					t.Errorf("unexpected detail %+v", d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-done
}

func mustCompile(t *testing.T, d flags.Definitions) *flags.Set {
	t.Helper()
	set, err := flags.Compile(d)
	require.NoError(t, err)
	return set
}

func TestAdminEditsOnDefinitions(t *testing.T) {
	d := rolloutDefinitions(t, flags.Rollout{Ring: "internal", Percent: 10})
	ev := evaluator(t, d, flags.Options{})
	require.NoError(t, ev.Edit(func(d *flags.Definitions) error { return d.SetPercent("invoices", 100) }))
	on, _ := ev.Bool("invoices", tenantCtx("hooli"), false)
	assert.True(t, on, "100% reaches every tenant")

	require.NoError(t, ev.Edit(func(d *flags.Definitions) error { return d.SetPercent("invoices", 0) }))
	on, _ = ev.Bool("invoices", tenantCtx("hooli"), false)
	assert.False(t, on)
	require.NoError(t, ev.Edit(func(d *flags.Definitions) error { return d.AddToRing("internal", "hooli") }))
	on, _ = ev.Bool("invoices", tenantCtx("hooli"), false)
	assert.True(t, on, "hooli joined the internal ring")
	require.NoError(t, ev.Edit(func(d *flags.Definitions) error { return d.RemoveFromRing("internal", "hooli") }))
	on, _ = ev.Bool("invoices", tenantCtx("hooli"), false)
	assert.False(t, on)

	err := ev.Edit(func(d *flags.Definitions) error { return d.AddToRing("nope", "x") })
	assert.ErrorIs(t, err, flags.ErrNotFound)
	err = ev.Edit(func(d *flags.Definitions) error { return d.SetPercent("invoices", 120) })
	assert.ErrorIs(t, err, flags.ErrInvalidDefinitions)
	d.Flags["plain"] = flags.Flag{State: flags.Enabled, Variants: map[string]any{"on": true}, DefaultVariant: "on"}
	assert.ErrorIs(t, d.SetPercent("plain", 5), flags.ErrInvalidDefinitions, "no split to set")
}
