package flags_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/saaskit/saaskit/flags"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic, a nil
// Set comes with an error, and every error wraps ErrInvalidDefinitions.
func FuzzParse(f *testing.F) {
	testkit, err := os.ReadFile("testdata/flagd-testbed/testkit-flags.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testkit)
	for _, doc := range []string{
		``, `{}`, `null`, `[]`, `{"flags": {}}`, `{"flags": null}`, `{"flags": {}} {}`,
		`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`,
		`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1, "b": "x"}}}}`,
		`{"flags": {"f": {"state": "ON", "variants": {}}}}`,
		`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "targeting": {"if": [{"$ref": "r"}, "a"]}}}, "$evaluators": {"r": {"$ref": "r"}}}`,
		`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "targeting": {"fractional": [{"var": "k"}, ["a", 1e300], ["b"]]}}}}`,
		`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "targeting": {"sem_ver": [{"var": "v"}, "^", 1]}}}}`,
		`{"flags": {"": {"state": "DISABLED", "variants": {"a": {"nested": [1, {"x": null}]}}}}}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		set, err := flags.Parse(doc)
		if set == nil && err == nil {
			t.Fatal("nil Set without an error")
		}
		if err != nil && !errors.Is(err, flags.ErrInvalidDefinitions) {
			t.Fatalf("error %v does not wrap ErrInvalidDefinitions", err)
		}
	})
}

// evaluatedFlags are the flags FuzzEvaluate builds around a targeting
// rule, one of each type, with variant names that rules commonly give.
// None is named "": Detail.Variant is "" when the default is served.
var evaluatedFlags = map[string]map[string]any{
	"bool":   {"on": true, "off": false, "true": true, "false": false},
	"string": {"a": "A", "b": "B", "1": "one", "null": "null"},
	"int":    {"one": 1, "two": 2, "0": 0, "1": 1},
	"float":  {"half": 0.5, "tenth": 0.1, "-1": -1.5},
	"object": {"x": map[string]any{"k": "v"}, "y": []any{1.0, "2"}},
}

// FuzzEvaluate evaluates a fuzzed targeting rule on a fuzzed context
// through every typed method: it must not panic, and the result is
// either a variant of the flag or the caller's default with a reason
// that says why.
func FuzzEvaluate(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}`, `{"plan": "pro"}`},
		{`{"fractional": [{"var": "id"}, ["a", 50], ["b", 50]]}`, `{"id": "u1"}`},
		{`{"fractional": [["one", 1], ["two", {"var": "w"}]]}`, `{"targetingKey": "k", "w": 3}`},
		{`{"in": [{"var": "email"}, ["a@x", "b@x"]]}`, `{"email": "a@x"}`},
		{`{"cat": [{"var": "n"}, ""]}`, `{"n": 1}`},
		{`{"sem_ver": [{"var": "v"}, ">=", "1.2.0"]}`, `{"v": "v1.10"}`},
		{`{"starts_with": [{"var": "s"}, "ha"]}`, `{"s": "half"}`},
		{`{"reduce": [{"var": "l"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}`, `{"l": [1, "x", null]}`},
		{`{"some": [{"var": "l"}, {"==": [{"var": "k"}, {"var": "$flagd.flagKey"}]}]}`, `{"l": [{"k": "bool"}]}`},
		{`{"substr": [{"var": "s"}, -20, -30]}`, `{"s": "héllo"}`},
		{`{"var": "a.0.b"}`, `{"a": [{"b": "x"}]}`},
		{`{"/": [1, 0]}`, `{}`},
		{`{"max": []}`, `[]`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, targeting, context string) {
		var rule any
		if json.Unmarshal([]byte(targeting), &rule) != nil {
			return
		}
		var ctx map[string]any
		_ = json.Unmarshal([]byte(context), &ctx) // nil when not an object
		defs := flags.Definitions{Flags: map[string]flags.Flag{}}
		for key, variants := range evaluatedFlags {
			defs.Flags[key] = flags.Flag{State: flags.Enabled, Variants: variants, Targeting: rule}
		}
		set, _ := flags.Compile(defs)
		if set == nil {
			t.Fatal("Compile gave no Set")
		}
		ev := flags.NewEvaluator(set, flags.Options{})
		for key := range evaluatedFlags {
			check(t, key, "bool", func() (any, flags.Detail) { return ev.Bool(key, ctx, true) }, true)
			check(t, key, "string", func() (any, flags.Detail) { return ev.String(key, ctx, "default") }, "default")
			check(t, key, "int", func() (any, flags.Detail) { return ev.Int(key, ctx, -7) }, int64(-7))
			check(t, key, "float", func() (any, flags.Detail) { return ev.Float(key, ctx, -7.5) }, -7.5)
			check(t, key, "object", func() (any, flags.Detail) { return ev.Object(key, ctx, "default") }, "default")
		}
	})
}

// numeric flags are both numbers: Int and Float serve either.
var numeric = map[string]bool{"int": true, "float": true}

// check evaluates flag key through the method for type typ: the result
// is the variant Detail names, or def with a reason for serving it.
func check(t *testing.T, key, typ string, evaluate func() (any, flags.Detail), def any) {
	t.Helper()
	got, d := evaluate()
	if d.Variant == "" {
		if !reflect.DeepEqual(got, def) {
			t.Fatalf("%s as %s: no variant, but %#v rather than the default", key, typ, got)
		}
		switch d.Reason {
		case flags.ReasonDefault, flags.ReasonDisabled:
		case flags.ReasonError:
			if d.ErrorCode == 0 {
				t.Fatalf("%s as %s: reason ERROR without an error code", key, typ)
			}
		default:
			t.Fatalf("%s as %s: the default served with reason %v", key, typ, d.Reason)
		}
		return
	}
	want, ok := evaluatedFlags[key][d.Variant]
	if !ok {
		t.Fatalf("%s as %s: variant %q is not the flag's", key, typ, d.Variant)
	}
	if key != typ && !(numeric[key] && numeric[typ]) {
		t.Fatalf("%s as %s: served variant %q across types", key, typ, d.Variant)
	}
	switch w := want.(type) {
	case int:
		if typ == "int" {
			want = int64(w)
		} else {
			want = float64(w)
		}
	case float64:
		if typ == "int" {
			want = int64(w)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s as %s: variant %q but value %#v, want %#v", key, typ, d.Variant, got, want)
	}
	if d.ErrorCode != 0 {
		t.Fatalf("%s as %s: variant %q with error %v", key, typ, d.Variant, d.ErrorCode)
	}
}
