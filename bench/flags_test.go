package bench

// Feature-flag evaluation, side by side, of the three flags of the
// performance targets (flags/bench_test.go) for one user:
//
//   - static: on, serves true to everyone, no targeting.
//   - rule: one rule of three clauses, all required (plan is "enterprise",
//     region is one of two, email ends with "@example.com"), serving true;
//     false otherwise.
//   - split: a 25% true / 75% false rollout by the user's key.
//
// The sides:
//
//   - saaskit: flags.Evaluator.Bool over the flagd definitions below, with
//     the user as a map[string]any, as the flags package takes it.
//   - launchdarkly: LaunchDarkly's Go server SDK,
//     github.com/launchdarkly/go-server-sdk/v7 v7.14.6 (the latest v7 the
//     Go proxy serves), LDClient.BoolVariation. The client is offline: its
//     data source is the SDK's ldtestdata, fed the same flags built with
//     ldbuilders (ldtestdata's own builder has neither endsWith clauses nor
//     rollouts), with events and logging disabled, so no network is
//     touched. The user is an ldcontext.Context built once, as an
//     application builds it once per request.
//
// For user-42 both sides answer true, true and false (user-42 falls in
// the 75% of the split on both). Each flag is checked once, before its
// loops, to get the same answer from both sides, so neither measures an
// error or a different branch.

import (
	"testing"
	"time"

	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldbuilders"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldmodel"
	ld "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"

	"github.com/saaskit/saaskit/flags"
)

// flagDefinitions is a copy of flags/bench_test.go's benchDefinitions.
const flagDefinitions = `{
  "flags": {
    "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "rule": {
      "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [{"and": [
        {"==": [{"var": "plan"}, "enterprise"]},
        {"in": [{"var": "region"}, ["eu-west-1", "eu-central-1"]]},
        {"ends_with": [{"var": "email"}, "@example.com"]}
      ]}, "on", "off"]}
    },
    "split": {
      "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"fractional": [["on", 25], ["off", 75]]}
    }
  }
}`

// flagUser is the user as saaskit takes it; ldFlagUser builds the same
// user as LaunchDarkly takes it.
var flagUser = map[string]any{
	"targetingKey": "user-42",
	"plan":         "enterprise",
	"region":       "eu-central-1",
	"email":        "ada@example.com",
}

func ldFlagUser() ldcontext.Context {
	return ldcontext.NewBuilder("user-42").
		SetString("plan", "enterprise").
		SetString("region", "eu-central-1").
		SetString("email", "ada@example.com").
		Build()
}

// ldFlags returns the three flags in LaunchDarkly's model. Variation 0 is
// true and 1 is false, as in LaunchDarkly's boolean flags.
func ldFlags() []ldmodel.FeatureFlag {
	boolFlag := func(key string) *ldbuilders.FlagBuilder {
		return ldbuilders.NewFlagBuilder(key).On(true).OffVariation(1).
			Variations(ldvalue.Bool(true), ldvalue.Bool(false))
	}
	return []ldmodel.FeatureFlag{
		boolFlag("static").FallthroughVariation(0).Build(),
		boolFlag("rule").AddRule(ldbuilders.NewRuleBuilder().ID("rule-0").Variation(0).Clauses(
			ldbuilders.Clause("plan", ldmodel.OperatorIn, ldvalue.String("enterprise")),
			ldbuilders.Clause("region", ldmodel.OperatorIn, ldvalue.String("eu-west-1"), ldvalue.String("eu-central-1")),
			ldbuilders.Clause("email", ldmodel.OperatorEndsWith, ldvalue.String("@example.com")),
		)).FallthroughVariation(1).Build(),
		// Weights are in thousandths of a percent.
		boolFlag("split").Fallthrough(ldbuilders.Rollout(
			ldbuilders.Bucket(0, 25000), ldbuilders.Bucket(1, 75000),
		)).Build(),
	}
}

// ldClient returns an offline LaunchDarkly client serving ldFlags.
func ldClient(b *testing.B) *ld.LDClient {
	b.Helper()
	td := ldtestdata.DataSource()
	for _, f := range ldFlags() {
		td.UsePreconfiguredFlag(f)
	}
	client, err := ld.MakeCustomClient("sdk-key", ld.Config{
		DataSource:       td,
		Events:           ldcomponents.NoEvents(),
		Logging:          ldcomponents.NoLogging(),
		DiagnosticOptOut: true,
	}, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	return client
}

// BenchmarkFlags evaluates each flag through saaskit and through
// LaunchDarkly, after checking that both answer the user alike. Run with
//
//	go test -run '^$' -bench Flags -count 3 ./...
func BenchmarkFlags(b *testing.B) {
	set, err := flags.Parse([]byte(flagDefinitions))
	if err != nil {
		b.Fatal(err)
	}
	ev := flags.NewEvaluator(set, flags.Options{})
	client := ldClient(b)
	user := ldFlagUser()

	for _, key := range []string{"static", "rule", "split"} {
		ours, detail := ev.Bool(key, flagUser, false)
		theirs, err := client.BoolVariation(key, user, false)
		if detail.ErrorCode != 0 || err != nil || ours != theirs {
			b.Fatalf("%s: saaskit says %v (%+v), LaunchDarkly %v (%v)", key, ours, detail, theirs, err)
		}
		b.Run("saaskit/"+key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool, _ = ev.Bool(key, flagUser, false)
			}
		})
		b.Run("launchdarkly/"+key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool, _ = client.BoolVariation(key, user, false)
			}
		})
	}
}

var sinkBool bool
