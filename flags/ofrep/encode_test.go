package ofrep

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// FuzzAppendString: what appendString writes decodes to the string, as
// encoding/json would have written it (invalid UTF-8 as U+FFFD).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "hello", "\"\\\n\r\t\x00\x1f", "<&>", "\u2028\u2029", "caf\xc3", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: not a JSON string: %v", s, err)
		}
		data, _ := json.Marshal(s)
		_ = json.Unmarshal(data, &want)
		if got != want {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, got, want)
		}
	})
}

// FuzzAppendFloat: numbers are written byte for byte as encoding/json
// writes them.
func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, 1, -1, 0.25, 50, 1e21, 1e20, 1e-6, 1e-7, -2.5e-9, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		got, err := appendFloat(nil, x)
		want, werr := json.Marshal(x)
		if (err != nil) != (werr != nil) || err == nil && string(got) != string(want) {
			t.Fatalf("%v: %q (%v), encoding/json %q (%v)", x, got, err, want, werr)
		}
	})
}

func TestAppendResultMatchesTheSchema(t *testing.T) {
	r := result{Key: "k", Value: map[string]any{"a": []any{1.0, "x"}}, Reason: "STATIC", Variant: "v",
		Metadata: map[string]any{"b": true, "a": int64(3), "c": 0.5, "s": "<x>", "nested": map[string]any{}}}
	got, err := appendResult(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"k","value":{"a":[1,"x"]},"reason":"STATIC","variant":"v","metadata":{"a":3,"b":true,"c":0.5,"s":"<x>"}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := appendResult(nil, &result{Key: "k", Value: math.Inf(1)}); err == nil {
		t.Fatal("an infinite value was written")
	}
	many := map[string]any{}
	for _, k := range strings.Split("a b c d e f g h i j", " ") {
		many[k] = k
	}
	got, _ = appendResult(nil, &result{Key: "k", Metadata: many})
	if !strings.HasSuffix(string(got), `"i":"i","j":"j"}}`) {
		t.Fatalf("more metadata than the stack buffer: %s", got)
	}
}
