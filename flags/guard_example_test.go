package flags_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/observability/slo"
)

// A rollout that goes to 10%, then 50%, each held for an hour while the
// new variant's error ratio stays under 5%; it rolls back at once when
// the ratio breaks it.
func ExampleGuardian() {
	flag, _ := flags.RolloutFlag(flags.Rollout{Percent: 0})
	set, _ := flags.Compile(flags.Definitions{Flags: map[string]flags.Flag{"new-checkout": flag}})
	ev := flags.NewEvaluator(set, flags.Options{})

	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	outcomes := flags.NewOutcomes(time.Hour, clock) // the application records each request's outcome here
	g, _ := flags.NewGuardian(ev.Current, flags.InMemory{Evaluator: ev}, flags.GuardianOptions{Now: clock},
		flags.GuardedRollout{
			Flag:   "new-checkout",
			Steps:  []flags.GuardedStep{{Percent: 10, Hold: time.Hour}, {Percent: 50, Hold: time.Hour}},
			Guards: []flags.Guard{{Name: "error-ratio", Read: outcomes.ErrorRatio, Max: 0.05, MinSamples: 100}},
		})
	ctx := context.Background()
	show := func() {
		for _, d := range g.Check(ctx) { // in production: go g.Run(ctx, time.Minute)
			fmt.Printf("%s at %d%%: %s\n", d.Action, d.Percent, d.Reason)
		}
	}

	show()
	now = now.Add(time.Hour)
	for i := range 200 {
		outcomes.Record("new-checkout", "on", i < 2, 40*time.Millisecond) // 1% fail
	}
	show()
	now = now.Add(10 * time.Minute)
	for i := range 200 {
		outcomes.Record("new-checkout", "on", i < 40, 40*time.Millisecond) // 20% fail
	}
	show()
	// Output:
	// start at 10%: step 1 of 2: 10%
	// advance at 50%: guards held at 10% for 1h0m0s; step 2 of 2: 50%
	// rollback at 10%: guard error-ratio: 0.2 over 0.05 (200 samples)
}

// A guard on an SLO's burn rate (package observability/slo): the
// rollout stops when the new variant spends its error budget more than
// twice as fast as the SLO allows. The samples are the variant's
// cumulative request and error counts, wherever the application keeps
// them.
func ExampleGuard_sloBurnRate() {
	availability := slo.SLO{Name: "checkout", Objective: 0.99}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	samples := map[string][]slo.Sample{ // per variant: total and bad requests so far
		"on": {{At: now.Add(-time.Hour), Total: 1000, Bad: 10}, {At: now, Total: 2000, Bad: 60}},
	}
	burn := flags.Guard{
		Name: "slo-burn-rate",
		Read: func(_ context.Context, _, variant string, since time.Time) (flags.Measure, error) {
			s := samples[variant]
			rate, err := availability.BurnRate(s, now, now.Sub(since))
			if err != nil || len(s) == 0 {
				return flags.Measure{}, err
			}
			return flags.Measure{Value: rate, Samples: int64(s[len(s)-1].Total - s[0].Total)}, nil
		},
		Max:        2,
		MinSamples: 100,
	}
	m, _ := burn.Read(context.Background(), "new-checkout", "on", now.Add(-time.Hour))
	fmt.Printf("burn rate %.0f over %d requests: the guard fails: %v\n", m.Value, m.Samples, m.Value > burn.Max)
	// Output: burn rate 5 over 1000 requests: the guard fails: true
}
