package flags_test

import (
	"context"
	"maps"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/saaskit/saaskit/flags"
)

// benchDefinitions are the three flags of the performance targets, also
// defined in LaunchDarkly's model in the bench module.
const benchDefinitions = `{
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

func benchEvaluator(b *testing.B) *flags.Evaluator {
	set, err := flags.Parse([]byte(benchDefinitions))
	if err != nil {
		b.Fatal(err)
	}
	return flags.NewEvaluator(set, flags.Options{})
}

var benchContext = map[string]any{
	"targetingKey": "user-42",
	"plan":         "enterprise",
	"region":       "eu-central-1",
	"email":        "ada@example.com",
}

var sink bool

// BenchmarkEvaluate evaluates the three flags through the Evaluator,
// beside the limit: a map lookup of a precomputed answer.
func BenchmarkEvaluate(b *testing.B) {
	ev := benchEvaluator(b)
	for _, key := range []string{"static", "rule", "split"} {
		b.Run(key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink, _ = ev.Bool(key, benchContext, false)
			}
		})
	}
	b.Run("limit-map-lookup", func(b *testing.B) {
		answers := map[string]bool{"static": true}
		b.ReportAllocs()
		for b.Loop() {
			sink = answers["static"]
		}
	})
}

// BenchmarkOpenFeature evaluates the rule flag through an OpenFeature
// client (hooks, context merging and all), beside the package's own
// evaluation.
func BenchmarkOpenFeature(b *testing.B) {
	ev := benchEvaluator(b)
	api := isolated.NewAPI()
	ctx := context.Background()
	if err := api.SetProviderAndWait(ctx, flags.NewProvider(ev, flags.ProviderOptions{})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Shutdown(ctx) })
	client := api.NewClient()
	attrs := maps.Clone(benchContext)
	delete(attrs, "targetingKey")
	evalCtx := openfeature.NewEvaluationContext("user-42", attrs)
	b.Run("openfeature-client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = client.Boolean(ctx, "rule", false, evalCtx)
		}
	})
	b.Run("evaluator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = ev.Bool("rule", benchContext, false)
		}
	})
}
