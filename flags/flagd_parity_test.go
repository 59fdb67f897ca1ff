package flags_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
)

// These tests pin behaviours where the package once differed from flagd
// (core/pkg/evaluator) and flagd-testbed 3.9.0.

// A targeting rule that names no variant of the flag is GENERAL in
// flagd (flagd#1680), and the caller's default is served.
func TestUnknownVariantFromTargetingIsGeneral(t *testing.T) {
	ev := flags.NewEvaluator(mustParse(t, `{"flags": {"f": {
		"state": "ENABLED", "variants": {"a": "A", "b": "B"}, "defaultVariant": "a",
		"targeting": {"if": [true, "nope"]}}}}`), flags.Options{})
	v, d := ev.String("f", map[string]any{}, "fallback")
	assert.Equal(t, "fallback", v)
	assert.Equal(t, flags.ReasonError, d.Reason)
	assert.Equal(t, flags.General, d.ErrorCode)
	assert.Contains(t, d.ErrorMessage, `"nope"`)
	assert.Empty(t, d.Variant)
}

// fractional without a bucketing expression hashes the targeting key;
// an empty one, like a missing one, buckets nobody (flagd#1949), so the
// default variant is served with reason DEFAULT.
func TestFractionalWithEmptyTargetingKeyServesDefaultVariant(t *testing.T) {
	ev := flags.NewEvaluator(mustParse(t, `{"flags": {"f": {
		"state": "ENABLED", "variants": {"on": "on", "off": "off", "fallback": "fallback"},
		"defaultVariant": "fallback",
		"targeting": {"fractional": [["on", 50], ["off", 50]]}}}}`), flags.Options{})
	for name, ctx := range map[string]map[string]any{
		"empty":   {"targetingKey": ""},
		"missing": {},
	} {
		v, d := ev.String("f", ctx, "caller")
		assert.Equal(t, "fallback", v, name)
		assert.Equal(t, "fallback", d.Variant, name)
		assert.Equal(t, flags.ReasonDefault, d.Reason, name)
		assert.Zero(t, d.ErrorCode, name)
	}
	// A key that is not empty is bucketed.
	_, d := ev.String("f", map[string]any{"targetingKey": "user-1"}, "caller")
	assert.Equal(t, flags.ReasonTargetingMatch, d.Reason)
	assert.Contains(t, []string{"on", "off"}, d.Variant)
}

type tagList []string

type limits map[string]int

// varEquals returns an evaluator whose flag "f" is "hit" when the var at
// path equals want, else "miss".
func varEquals(t *testing.T, path string, want any) *flags.Evaluator {
	t.Helper()
	return flags.NewEvaluator(mustCompile(t, flags.Definitions{Flags: map[string]flags.Flag{"f": {
		State: flags.Enabled, Variants: map[string]any{"hit": "hit", "miss": "miss"}, DefaultVariant: "miss",
		Targeting: map[string]any{"if": []any{map[string]any{"==": []any{map[string]any{"var": path}, want}}, "hit", "miss"}},
	}}}), flags.Options{})
}

// flagd marshals the context to JSON before evaluating, so a var path
// indexes any Go slice or array like a JSON array and walks any Go map
// with string keys like a JSON object.
func TestVarWalksGoTypedSlicesAndMaps(t *testing.T) {
	cases := []struct {
		name, path string
		x          any
		hit        bool
	}{
		{"[]string", "x.1", []string{"alpha", "beta"}, true},
		{"named []string", "x.1", tagList{"alpha", "beta"}, true},
		{"[2]string", "x.1", [2]string{"alpha", "beta"}, true},
		{"[]any", "x.1", []any{"alpha", "beta"}, true},
		{"map[string]string", "x.1", map[string]string{"1": "beta"}, true},
		{"[]map[string]any", "x.1.id", []map[string]any{{"id": "alpha"}, {"id": "beta"}}, true},
		{"[]map[string]string", "x.1.id", []map[string]string{{"id": "alpha"}, {"id": "beta"}}, true},
		{"map[string][]map[string]string", "x.k.0.id", map[string][]map[string]string{"k": {{"id": "beta"}}}, true},
		{"[][]string", "x.1.0", [][]string{{"alpha"}, {"beta"}}, true},
		// Out of range, not a number, or keys that are not strings: missing.
		{"out of range", "x.1", []string{"alpha"}, false},
		{"not an index", "x.one", []string{"alpha", "beta"}, false},
		{"int keys", "x.1", map[int]string{1: "beta"}, false},
		{"nil slice", "x.0", []string(nil), false},
	}
	for _, c := range cases {
		v, d := varEquals(t, c.path, "beta").String("f", map[string]any{"x": c.x}, "caller")
		if !c.hit {
			assert.Equal(t, "miss", v, c.name)
			continue
		}
		assert.Equal(t, "hit", v, c.name)
		assert.Equal(t, flags.ReasonTargetingMatch, d.Reason, c.name)
	}
	v, _ := varEquals(t, "x.limits.seats", 50).String("f", map[string]any{"x": map[string]limits{"limits": {"seats": 50}}}, "caller")
	assert.Equal(t, "hit", v, "nested Go maps of numbers")

	// JSON's own types are still walked without allocating.
	ev := varEquals(t, "x.1.id", "beta")
	ctx := map[string]any{"x": []any{map[string]any{"id": "alpha"}, map[string]any{"id": "beta"}}}
	assert.Zero(t, testing.AllocsPerRun(100, func() { ev.String("f", ctx, "caller") }))
}

// flagd strips at most one leading "v" or "V" before reading a version;
// sem_ver on an invalid version gives null, so the default variant.
func TestSemVerAcceptsOneVPrefix(t *testing.T) {
	ev := flags.NewEvaluator(mustParse(t, `{"flags": {"f": {
		"state": "ENABLED", "variants": {"true": "match", "false": "no-match", "invalid": "invalid"},
		"defaultVariant": "invalid",
		"targeting": {"sem_ver": [{"var": "version"}, "=", "1.0.0"]}}}}`), flags.Options{})
	for version, want := range map[string]string{
		"1.0.0":   "match",
		"v1.0.0":  "match",
		"V1.0.0":  "match",
		"2.0.0":   "no-match",
		"vV1.0.0": "invalid",
		"Vv1.0.0": "invalid",
		"vv1.0.0": "invalid",
		"VV1.0.0": "invalid",
	} {
		v, _ := ev.String("f", map[string]any{"version": version}, "caller")
		assert.Equal(t, want, v, version)
	}
}

// Every reason the package can name is one flagd reports; in particular
// fractional reports TARGETING_MATCH, as in flagd, and there is no SPLIT.
func TestReasonsAreFlagdReasons(t *testing.T) {
	flagd := map[string]bool{"STATIC": true, "TARGETING_MATCH": true, "DEFAULT": true, "DISABLED": true, "ERROR": true}
	named := 0
	for r := flags.Reason(1); r.String() != "UNKNOWN"; r++ {
		assert.True(t, flagd[r.String()], "reason %q is not one flagd reports", r)
		named++
	}
	assert.Equal(t, len(flagd), named)

	ev := flags.NewEvaluator(mustParse(t, `{"flags": {"f": {
		"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
		"targeting": {"fractional": [["on", 50], ["off", 50]]}}}}`), flags.Options{})
	_, d := ev.Bool("f", map[string]any{"targetingKey": "user-1"}, false)
	require.NotEmpty(t, d.Variant)
	assert.Equal(t, flags.ReasonTargetingMatch, d.Reason)
}
