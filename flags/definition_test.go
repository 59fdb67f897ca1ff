package flags_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
)

// TestInvalidDefinitionsNameFlagAndPath: each invalid flag is reported
// with its key and the JSON Pointer of the offending part, and evaluates
// with PARSE_ERROR while the valid flags keep working.
func TestInvalidDefinitionsNameFlagAndPath(t *testing.T) {
	doc := `{
	  "$evaluators": {"loop-a": {"$ref": "loop-b"}, "loop-b": {"$ref": "loop-a"}},
	  "flags": {
	    "ok": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"},
	    "bad-state": {"state": "ON", "variants": {"on": true}, "defaultVariant": "on"},
	    "no-variants": {"state": "ENABLED", "variants": {}},
	    "mixed": {"state": "ENABLED", "variants": {"a": true, "b": "yes"}, "defaultVariant": "a"},
	    "bad-default": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "z"},
	    "unknown-op": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
	      "targeting": {"if": [{"frobnicate": [1]}, "a"]}},
	    "two-ops": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
	      "targeting": {"if": [{"==": [1, 1], "!=": [1, 2]}, "a"]}},
	    "bad-fraction": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
	      "targeting": {"fractional": [{"var": "k"}, "a"]}},
	    "ref-cycle": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
	      "targeting": {"if": [{"$ref": "loop-a"}, "a"]}}
	  }
	}`
	set, err := flags.Parse([]byte(doc))
	require.NotNil(t, set, "the readable document still yields a Set")
	require.ErrorIs(t, err, flags.ErrInvalidDefinitions)
	want := map[string]string{
		"bad-state":    "/flags/bad-state/state",
		"no-variants":  "/flags/no-variants/variants",
		"mixed":        "/flags/mixed/variants/b",
		"bad-default":  "/flags/bad-default/defaultVariant",
		"unknown-op":   "/flags/unknown-op/targeting/if/0/frobnicate",
		"two-ops":      "/flags/two-ops/targeting/if/0",
		"bad-fraction": "/flags/bad-fraction/targeting/fractional/1",
		"ref-cycle":    "/$evaluators/loop-b/$ref",
	}
	got := map[string]string{}
	for _, e := range unjoin(err) {
		var de *flags.DefinitionError
		if errors.As(e, &de) {
			got[de.Flag] = de.Path
			assert.Contains(t, e.Error(), de.Flag)
		}
	}
	assert.Equal(t, want, got)

	ev := flags.NewEvaluator(set, flags.Options{})
	on, d := ev.Bool("ok", nil, false)
	assert.True(t, on, "valid flags work")
	assert.Zero(t, d.ErrorCode)
	for key := range want {
		_, d := ev.Int(key, nil, 0)
		assert.Equal(t, flags.ParseError, d.ErrorCode, key)
		assert.Equal(t, flags.ReasonError, d.Reason, key)
	}
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	if w := errors.Unwrap(err); w != nil {
		if _, ok := w.(interface{ Unwrap() []error }); ok {
			return unjoin(w)
		}
	}
	return []error{err}
}

func TestUnreadableDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":        `{"flags": `,
		"no flags":        `{"flag": {}}`,
		"flags not a map": `{"flags": []}`,
		"trailing data":   `{"flags": {}} {}`,
		"too big":         `{"flags": {}, "x": "` + strings.Repeat("a", 17<<20) + `"}`,
	} {
		set, err := flags.Parse([]byte(doc))
		assert.Nil(t, set, name)
		assert.ErrorIs(t, err, flags.ErrInvalidDefinitions, name)
	}
	_, err := flags.Parse([]byte("{\n\"flags\": {\n\"a\": {,}}}"))
	assert.ErrorContains(t, err, "line 3", "syntax errors say where")
}
