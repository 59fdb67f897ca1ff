package flags

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// flagd evaluates targeting with github.com/diegoholiveira/jsonlogic/v3,
// and a definition must evaluate here exactly as it does there. These
// tests run rules through both engines and compare.
//
// Where the two differ on purpose, the case is in departures, with the
// reason. We depart only where flagd's engine is plainly broken: it
// fails (panics or errors, which flagd reports as a parse error), its
// answer reads data the rule did not name, an operation's answer has the
// wrong truth value or drops elements, or it has no such operator.
// Everything else, including its coercions where they differ from
// JavaScript, we follow.

// flagdApply evaluates rule on data with flagd's engine, as flagd does:
// both as JSON, the result decoded from JSON.
func flagdApply(rule, data string) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	var out bytes.Buffer
	if err := jsonlogic.Apply(strings.NewReader(rule), strings.NewReader(data), &out); err != nil {
		return nil, err
	}
	err = json.Unmarshal(out.Bytes(), &result)
	return result, err
}

// ourApply compiles and evaluates rule on data with our engine, the
// result through JSON like flagdApply's.
func ourApply(rule, data string) (any, error) {
	var r, d any
	if err := json.Unmarshal([]byte(rule), &r); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, err
	}
	n, err := (&compiler{}).compile(r, "")
	if err != nil {
		return nil, err
	}
	ctx := fromAny(d)
	b, err := json.Marshal(n.eval(env{data: ctx, ctx: ctx, flagKey: "flag"}).toAny())
	if err != nil {
		return nil, err
	}
	var result any
	err = json.Unmarshal(b, &result)
	return result, err
}

func orEmpty(data string) string {
	if data == "" {
		return "{}"
	}
	return data
}

// agreements are rules, and the data they run on ("" for {}), that both
// engines evaluate alike.
var agreements = []struct{ rule, data string }{
	// equality
	{`{"==": [1, 1]}`, ``},
	{`{"==": [1, "1"]}`, ``},
	{`{"==": ["1", 1]}`, ``},
	{`{"==": [1, "1.0"]}`, ``},
	{`{"==": ["1.0", 1]}`, ``},
	{`{"==": [0, ""]}`, ``},
	{`{"==": ["", 0]}`, ``},
	{`{"==": [false, 0]}`, ``},
	{`{"==": [true, 1]}`, ``},
	{`{"==": [true, "true"]}`, ``},
	{`{"==": [null, null]}`, ``},
	{`{"==": [null, 0]}`, ``},
	{`{"==": [0, null]}`, ``},
	{`{"==": [null, false]}`, ``},
	{`{"==": ["a", "a"]}`, ``},
	{`{"==": ["a", "b"]}`, ``},
	{`{"==": [1.5, "1.5"]}`, ``},
	{`{"===": [1, 1]}`, ``},
	{`{"===": [1, "1"]}`, ``},
	{`{"===": ["a", "a"]}`, ``},
	{`{"===": [null, null]}`, ``},
	{`{"===": [true, true]}`, ``},
	{`{"===": [true, 1]}`, ``},
	{`{"!=": [1, "1"]}`, ``},
	{`{"!=": [1, 2]}`, ``},
	{`{"!=": [null, 0]}`, ``},
	{`{"!==": [1, "1"]}`, ``},
	{`{"!==": [1, 1]}`, ``},
	// truthiness
	{`{"!": [""]}`, ``},
	{`{"!": ["0"]}`, ``},
	{`{"!": [[]]}`, ``},
	{`{"!": [{}]}`, ``},
	{`{"!": [null]}`, ``},
	{`{"!": [0]}`, ``},
	{`{"!": ["a"]}`, ``},
	{`{"!": [[0]]}`, ``},
	{`{"!!": [""]}`, ``},
	{`{"!!": ["0"]}`, ``},
	{`{"!!": [[]]}`, ``},
	{`{"!!": [[[]]]}`, ``},
	{`{"!!": [null]}`, ``},
	{`{"!!": [0]}`, ``},
	{`{"!!": [1]}`, ``},
	{`{"!!": ["a"]}`, ``},
	{`{"!": ""}`, ``},
	{`{"!": "0"}`, ``},
	{`{"!": 0}`, ``},
	{`{"!!": 0}`, ``},
	{`{"!!": "x"}`, ``},
	{`{"if": [{"var":"e"}, "y", "n"]}`, `{"e":[]}`},
	{`{"if": [{"var":"e"}, "y", "n"]}`, `{"e":"0"}`},
	{`{"if": [{"var":"e"}, "y", "n"]}`, `{"e":""}`},
	{`{"if": [{"var":"e"}, "y", "n"]}`, `{"e":null}`},
	{`{"if": [[], "y", "n"]}`, ``},
	{`{"if": [[1], "y", "n"]}`, ``},
	// or/and
	{`{"or": [false, 0, "a"]}`, ``},
	{`{"or": [false, 0]}`, ``},
	{`{"or": [false, ""]}`, ``},
	{`{"or": [0, false]}`, ``},
	{`{"or": []}`, ``},
	{`{"and": [true, "a", 3]}`, ``},
	{`{"and": [1, 3]}`, ``},
	{`{"and": [true, false]}`, ``},
	{`{"and": [true, ""]}`, ``},
	{`{"and": [true, 0]}`, ``},
	{`{"and": [true, [1]]}`, ``},
	{`{"and": [[], true]}`, ``},
	{`{"or": [{"var":"a"}, "x"]}`, `{"a":"v"}`},
	{`{"or": [{"var":"a"}, {"var":"b"}]}`, `{"a":false,"b":"on"}`},
	// comparisons
	{`{"<": [1, 2]}`, ``},
	{`{"<": [2, 1]}`, ``},
	{`{"<": ["a", "b"]}`, ``},
	{`{"<": ["10", "9"]}`, ``},
	{`{"<": [10, "9"]}`, ``},
	{`{"<": ["10", 9]}`, ``},
	{`{"<": ["a", 1]}`, ``},
	{`{"<": [1, "a"]}`, ``},
	{`{"<": [null, 1]}`, ``},
	{`{"<": [-1, null]}`, ``},
	{`{"<": [false, true]}`, ``},
	{`{"<": [1]}`, ``},
	{`{"<": [1, 2, 3]}`, ``},
	{`{"<": [1, 1, 3]}`, ``},
	{`{"<=": [1, 1, 3]}`, ``},
	{`{"<=": [1, 2, 2]}`, ``},
	{`{"<=": [1, 3, 2]}`, ``},
	{`{">": [3, 2, 1]}`, ``},
	{`{">=": [3, 3, 1]}`, ``},
	{`{"<=": ["1", 1]}`, ``},
	{`{">=": ["1", 1]}`, ``},
	{`{">": ["b", "a"]}`, ``},
	{`{">": [2, 1]}`, ``},
	{`{"<=": [2, 1]}`, ``},
	{`{">=": [1, 2]}`, ``},
	{`{"<": [{"var":"n"}, 10]}`, `{"n": 5}`},
	{`{"<": [{"var":"n"}, 10]}`, `{"n": "5"}`},
	{`{"<": [{"var":"n"}, 10]}`, ``},
	{`{">": [{"var":"n"}, 10]}`, ``},
	{`{"<=": [{"var":"n"}, 0]}`, ``},
	{`{">=": [{"var":"n"}, 0]}`, ``},
	{`{"<": ["", 1]}`, ``},
	{`{"<": [" ", 1]}`, ``},
	{`{"<": ["1e3", 1001]}`, ``},
	{`{"<": ["0x10", 17]}`, ``},
	{`{"<": ["Infinity", 1]}`, ``},
	// max/min
	{`{"max": [1, 3, 2]}`, ``},
	{`{"min": [1, 3, 2]}`, ``},
	{`{"max": []}`, ``},
	{`{"min": []}`, ``},
	{`{"max": ["1", "3"]}`, ``},
	{`{"max": [1, "a"]}`, ``},
	{`{"min": [1, "a"]}`, ``},
	// arithmetic
	{`{"+": [1, 2]}`, ``},
	{`{"+": ["1", "2"]}`, ``},
	{`{"+": [1, "a"]}`, ``},
	{`{"+": "3"}`, ``},
	{`{"+": ["3"]}`, ``},
	{`{"+": []}`, ``},
	{`{"+": [1, 2, 3]}`, ``},
	{`{"-": [5, 2]}`, ``},
	{`{"-": [5]}`, ``},
	{`{"-": "5"}`, ``},
	{`{"-": ["5", "2"]}`, ``},
	{`{"-": [5, 2, 1]}`, ``},
	{`{"*": [2, 3]}`, ``},
	{`{"*": ["2", "3"]}`, ``},
	{`{"*": [2, 3, 4]}`, ``},
	{`{"*": [2]}`, ``},
	{`{"/": [6, 3]}`, ``},
	{`{"/": ["6", "3"]}`, ``},
	{`{"/": [1, 0]}`, ``},
	{`{"/": [6]}`, ``},
	{`{"/": [12, 2, 3]}`, ``},
	{`{"%": [7, 3]}`, ``},
	{`{"%": ["7", "3"]}`, ``},
	{`{"%": [7, 0]}`, ``},
	{`{"%": [-7, 3]}`, ``},
	{`{"*": ["a", 2]}`, ``},
	{`{"-": ["a", 2]}`, ``},
	{`{"+": [0.1, 0.2]}`, ``},
	{`{"+": [1e21, 1]}`, ``},
	{`{"*": [1e20, 100]}`, ``},
	{`{"+": ["1e2", 1]}`, ``},
	{`{"+": [" 1", 1]}`, ``},
	// in
	{`{"in": ["a", "abc"]}`, ``},
	{`{"in": ["d", "abc"]}`, ``},
	{`{"in": ["", "abc"]}`, ``},
	{`{"in": ["a", ["a", "b"]]}`, ``},
	{`{"in": ["c", ["a", "b"]]}`, ``},
	{`{"in": [1, [1, 2]]}`, ``},
	{`{"in": [1, ["1", 2]]}`, ``},
	{`{"in": ["1", [1, 2]]}`, ``},
	{`{"in": [true, [true]]}`, ``},
	{`{"in": [null, [null]]}`, ``},
	{`{"in": ["1", "123"]}`, ``},
	{`{"in": [{"var":"x"}, ["a","b"]]}`, `{"x":"a"}`},
	{`{"in": [{"var":"x"}, {"var":"l"}]}`, `{"x":"a","l":["a","b"]}`},
	{`{"in": [{"var":"x"}, {"var":"l"}]}`, `{"x":"a","l":"cab"}`},
	{`{"in": [{"var":"x"}, {"var":"l"}]}`, `{"x":3,"l":[1,2,3]}`},
	{`{"in": [{"var":"x"}, {"var":"l"}]}`, `{"l":[1,2,3]}`},
	{`{"in": ["a", null]}`, ``},
	{`{"in": ["a", {"var":"nope"}]}`, ``},
	// cat
	{`{"cat": ["a", "b"]}`, ``},
	{`{"cat": ["a", 1]}`, ``},
	{`{"cat": [1, 2.5]}`, ``},
	{`{"cat": ["a", null]}`, ``},
	{`{"cat": "a"}`, ``},
	{`{"cat": []}`, ``},
	{`{"cat": ["a ", " b "]}`, ``},
	{`{"cat": [" a"]}`, ``},
	{`{"cat": ["x", 1e21]}`, ``},
	{`{"cat": ["x", 1.0]}`, ``},
	{`{"cat": ["x", 0.1]}`, ``},
	{`{"cat": [{"var":"n"}, "-", {"var":"s"}]}`, `{"n": 3, "s":"x"}`},
	// substr
	{`{"substr": ["jsonlogic", 4]}`, ``},
	{`{"substr": ["jsonlogic", -5]}`, ``},
	{`{"substr": ["jsonlogic", 1, 3]}`, ``},
	{`{"substr": ["jsonlogic", 4, -2]}`, ``},
	{`{"substr": ["jsonlogic", -5, 2]}`, ``},
	{`{"substr": ["jsonlogic", -5, -2]}`, ``},
	{`{"substr": ["jsonlogic", 0, 0]}`, ``},
	{`{"substr": ["jsonlogic", 20]}`, ``},
	{`{"substr": ["jsonlogic", -20]}`, ``},
	{`{"substr": ["jsonlogic", 2, 100]}`, ``},
	{`{"substr": ["héllo", 1, 2]}`, ``},
	{`{"substr": [12345, 1, 2]}`, ``},
	{`{"substr": ["abc", "1"]}`, ``},
	{`{"substr": ["abc", 1.7]}`, ``},
	{`{"substr": ["abc", -1.5]}`, ``},
	{`{"substr": ["abc", 3]}`, ``},
	{`{"substr": [null, 0]}`, ``},
	// var
	{`{"var": "a"}`, `{"a": 1}`},
	{`{"var": ["a"]}`, `{"a": 1}`},
	{`{"var": "a.b"}`, `{"a": {"b": 2}}`},
	{`{"var": "a.b.c"}`, `{"a": {"b": {"c": "deep"}}}`},
	{`{"var": "a.1"}`, `{"a": [10, 20]}`},
	{`{"var": "a.2"}`, `{"a": [10, 20]}`},
	{`{"var": "1"}`, `{"1": "x"}`},
	{`{"var": 1}`, `{"1": "x"}`},
	{`{"var": 1}`, `[10, 20]`},
	{`{"var": "x"}`, ``},
	{`{"var": ["x", "dflt"]}`, ``},
	{`{"var": ["x", 5]}`, `{"x": null}`},
	{`{"var": ["x", 5]}`, `{"x": 0}`},
	{`{"var": ["x", 5]}`, `{"x": false}`},
	{`{"var": ["x", 5]}`, `{"x": ""}`},
	{`{"var": ["a.b", "d"]}`, `{"a": 1}`},
	{`{"var": ["a.b", "d"]}`, `{"a": {"c": 1}}`},
	{`{"var": ["a.b", "d"]}`, `{"a": "str"}`},
	{`{"var": "a.b"}`, `{"a": "str"}`},
	{`{"var": "a.b"}`, `{"a": 5}`},
	{`{"var": "a"}`, `{"a": {"b":1}}`},
	{`{"var": "a"}`, `{"a": [1,2]}`},
	{`{"var": ""}`, `{"a": 1}`},
	{`{"var": []}`, `{"a": 1}`},
	{`{"var": null}`, `{"a": 1}`},
	{`{"var": "a."}`, `{"a": {"":1}}`},
	{`{"var": ".a"}`, `{"a": 1}`},
	{`{"var": "a..b"}`, `{"a": {"b":1}}`},
	{`{"var": "a.0.b"}`, `{"a": [{"b": "x"}]}`},
	{`{"var": "a.b"}`, `{"a": {"b": false}}`},
	{`{"var": "a.b"}`, `{"a": {"b": 0}}`},
	{`{"var": "a.b"}`, `{"a": {"b": null}}`},
	{`{"var": ["a.b", 7]}`, `{"a": {"b": null}}`},
	{`{"var": "a.b.c"}`, `{"a": {"b": 5}}`},
	{`{"var": "x.y"}`, `{"x": {"y": 1}, "y": 9}`},
	{`{"var": "x"}`, `{"x": 3.5}`},
	{`{"var": "a.1.2"}`, `{"a": [0, [1,2,3]]}`},
	{`{"var": "a.01"}`, `{"a": [10, 20]}`},
	{`{"var": "a.1e0"}`, `{"a": [10, 20]}`},
	{`{"var": {"cat": ["a", ".b"]}}`, `{"a": {"b": 3}}`},
	{`{"var": 1.5}`, `{"1": {"5": 7}}`},
	// missing
	{`{"missing": ["a", "b"]}`, `{"a": 1}`},
	{`{"missing": ["a", "b"]}`, `{"a": 1, "b": 2}`},
	{`{"missing": "a"}`, ``},
	{`{"missing": ["a.b"]}`, `{"a": {"b": 1}}`},
	{`{"missing": ["a.b"]}`, `{"a": {}}`},
	{`{"missing": []}`, ``},
	{`{"missing": ["a"]}`, `{"a": null}`},
	{`{"missing": ["a"]}`, `{"a": ""}`},
	{`{"missing": ["a"]}`, `{"a": false}`},
	{`{"missing": ["a"]}`, `{"a": 0}`},
	{`{"missing": {"merge": ["a", "b"]}}`, `{"a": 1}`},
	{`{"missing_some": [1, ["a", "b"]]}`, `{"a": 1}`},
	{`{"missing_some": [2, ["a", "b", "c"]]}`, `{"a": 1}`},
	{`{"missing_some": [2, ["a", "b", "c"]]}`, `{"a": 1, "c": 3}`},
	{`{"missing_some": [0, ["a"]]}`, ``},
	{`{"missing_some": [1, []]}`, ``},
	{`{"if": [{"missing": ["a"]}, "no", "yes"]}`, `{"a": 1}`},
	{`{"if": [{"missing_some": [1, ["a","b"]]}, "no", "yes"]}`, `{"b": 1}`},
	// if
	{`{"if": [true, "a", "b"]}`, ``},
	{`{"if": [false, "a", "b"]}`, ``},
	{`{"if": [false, "a"]}`, ``},
	{`{"if": [false, "a", false, "b", "c"]}`, ``},
	{`{"if": [false, "a", true, "b", "c"]}`, ``},
	{`{"if": [false, "a", false, "b"]}`, ``},
	{`{"if": []}`, ``},
	{`{"if": [true]}`, ``},
	{`{"if": "x"}`, ``},
	{`{"if": [1, "a", "b"]}`, ``},
	{`{"if": ["", "a", "b"]}`, ``},
	{`{"if": [{"var":"x"}, {"var":"y"}, "z"]}`, `{"x": true, "y": "Y"}`},
	{`{"if": [{"var":"x"}, "y", {"var":"z"}]}`, `{"x": false, "z": "Z"}`},
	{`{"if": [{"==": [{"var":"x"}, 1]}, "one", {"==": [{"var":"x"}, 2]}, "two", "other"]}`, `{"x": 2}`},
	{`{"?:": [true, "a", "b"]}`, ``},
	{`{"?:": [false, "a", "b"]}`, ``},
	{`{"?:": [{"var":"x"}, "a", "b"]}`, `{"x": true}`},
	// merge
	{`{"merge": [[1, 2], [3]]}`, ``},
	{`{"merge": [1, 2]}`, ``},
	{`{"merge": [[1], 2, [[3]]]}`, ``},
	{`{"merge": []}`, ``},
	{`{"merge": [[]]}`, ``},
	{`{"merge": "a"}`, ``},
	{`{"merge": [{"var":"a"}, {"var":"b"}]}`, `{"a": [1], "b": [2]}`},
	// map/filter/reduce/all/some/none
	{`{"map": [[1, 2, 3], {"*": [{"var": ""}, 2]}]}`, ``},
	{`{"map": [[1, 2, 3], {"-": [{"var": ""}, 2]}]}`, ``},
	{`{"map": [{"var": "l"}, {"+": [{"var": ""}, 1]}]}`, `{"l": [1, 2]}`},
	{`{"map": [{"var": "nope"}, {"var": ""}]}`, ``},
	{`{"map": [[], {"var": ""}]}`, ``},
	{`{"filter": [[1, 2, 3, 4], {"%": [{"var": ""}, 2]}]}`, ``},
	{`{"filter": [[1, 2, 3], {">": [{"var": ""}, 1]}]}`, ``},
	{`{"filter": [{"var": "l"}, {"==": [{"var": "k"}, "x"]}]}`, `{"l": [{"k": "x"}, {"k": "y"}]}`},
	{`{"filter": [{"var": "nope"}, true]}`, ``},
	{`{"filter": [[1, 0, ""], {"var": ""}]}`, ``},
	{`{"reduce": [[1, 2, 3], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}`, ``},
	{`{"reduce": [[1, 2, 3], {"*": [{"var": "current"}, {"var": "accumulator"}]}, 1]}`, ``},
	{`{"reduce": [{"var": "l"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 10]}`, `{"l": [1, 2]}`},
	{`{"reduce": [[], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 5]}`, ``},
	{`{"reduce": [["a", "b"], {"cat": [{"var": "accumulator"}, {"var": "current"}]}, ""]}`, ``},
	{`{"reduce": [[1, 2], {"cat": [{"var": "accumulator"}, {"var": "current"}]}, ""]}`, ``},
	{`{"reduce": [[true, false], {"and": [{"var": "accumulator"}, {"var": "current"}]}, true]}`, ``},
	{`{"reduce": [[1, null, 2], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}`, ``},
	{`{"reduce": [[1, 2], {"+": [{"var": "current"}, {"var": "accumulator"}]}, "0"]}`, ``},
	{`{"reduce": [[1, 2], {"var": "current"}, 0]}`, ``},
	{`{"all": [[1, 2, 3], {">": [{"var": ""}, 0]}]}`, ``},
	{`{"all": [[1, 2, 3], {">": [{"var": ""}, 1]}]}`, ``},
	{`{"all": [[], {">": [{"var": ""}, 0]}]}`, ``},
	{`{"all": [{"var": "l"}, {"==": [{"var": "k"}, 1]}]}`, `{"l": [{"k": 1}, {"k": 1}]}`},
	{`{"all": [{"var": "nope"}, true]}`, ``},
	{`{"some": [[1, 2, 3], {">": [{"var": ""}, 2]}]}`, ``},
	{`{"some": [[1, 2, 3], {">": [{"var": ""}, 3]}]}`, ``},
	{`{"some": [[], true]}`, ``},
	{`{"some": [{"var": "l"}, {"==": [{"var": "k"}, 2]}]}`, `{"l": [{"k": 1}, {"k": 2}]}`},
	{`{"none": [[1, 2, 3], {">": [{"var": ""}, 3]}]}`, ``},
	{`{"none": [[1, 2, 3], {">": [{"var": ""}, 2]}]}`, ``},
	{`{"none": [[], true]}`, ``},
	{`{"none": [{"var": "l"}, {"==": [{"var": "k"}, 2]}]}`, `{"l": [{"k": 1}, {"k": 2}]}`},
	{`{"some": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"filter": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"all": [{"var": "l"}, {"<": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 3}`},
	{`{"none": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"map": [{"var": "l"}, {"+": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 10}`},
	{`{"some": [{"var": "l"}, {"==": [{"var": "k"}, {"var": "x"}]}]}`, `{"l": [{"k": 1}], "x": 1}`},
	// log
	// vars inside filter, map, none and some read the enclosing data
	// first (see scope)
	{`{"some": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"filter": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"none": [{"var": "l"}, {"==": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 2}`},
	{`{"map": [{"var": "l"}, {"+": [{"var": ""}, {"var": "x"}]}]}`, `{"l": [1, 2], "x": 10}`},
	{`{"some": [{"var": "l"}, {"==": [{"var": "k"}, {"var": "x"}]}]}`, `{"l": [{"k": 1}], "x": 1}`},
	{`{"filter": [{"var": "l"}, {"==": [{"var": "k"}, 1]}]}`, `{"l": [{"k": 1}, {"k": 2}], "k": 2}`},
	{`{"some": [{"var": "l"}, {"==": [{"var": "k"}, 1]}]}`, `{"l": [{"k": 1}, {"k": 2}], "k": 2}`},
	{`{"all": [{"var": "l"}, {"==": [{"var": "k"}, 1]}]}`, `{"l": [{"k": 1}, {"k": 1}], "k": 2}`},
	{`{"filter": [{"var": "l"}, {"==": [{"var": ["nope", 1]}, 1]}]}`, `{"l": [{"nope": 2}]}`},
	{`{"filter": [{"var": "l"}, {"==": [{"var": ".k"}, 1]}]}`, `{"l": [{"k": 1}, {"k": 2}], "k": 2}`},
	{`{"map": [{"var": "l"}, {"filter": [{"var": "m"}, {"==": [{"var": ""}, {"var": "k"}]}]}]}`, `{"l": [{"m": [1, 2], "k": 1}], "k": 2}`},
	{`{"reduce": [{"var": "l"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}`, `{"l": [1, 2], "current": 5}`},
}

func TestAgreesWithFlagdEngine(t *testing.T) {
	for _, c := range agreements {
		data := orEmpty(c.data)
		want, flagdErr := flagdApply(c.rule, data)
		got, err := ourApply(c.rule, data)
		if flagdErr != nil && err != nil {
			continue // both fail, as on 1 / 0: flagd reports an error, and so do we
		}
		if flagdErr != nil {
			t.Errorf("%s on %s: flagd's engine fails (%v); move the case to departures", c.rule, data, flagdErr)
			continue
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s on %s = %#v (%v), flagd's engine gives %#v", c.rule, data, got, err, want)
		}
	}
}

// departures are where we differ from flagd's engine on purpose: ours is
// our result as JSON ("error" when the rule does not compile).
var departures = []struct{ rule, data, ours, why string }{
	// flagd's engine panics: it has no answer, so ours is JsonLogic's.
	{`{"==": [1, true]}`, ``, `false`, "a number compared with a boolean panics; a boolean equals only a boolean, as with true == 1"},
	{`{"==": ["true", true]}`, ``, `false`, "a string compared with a boolean panics"},
	{`{"==": [{"var": "a"}, {"var": "b"}]}`, `{"a": [1, 2], "b": [1, 2]}`, `true`, "arrays cannot be compared"},
	{`{"==": [{"var": "a"}, "[1,2]"]}`, `{"a": [1, 2]}`, `true`, "arrays cannot be compared; we compare the JSON form"},
	{`{"!": {"var": "e"}}`, `{"e": {}}`, `true`, "an object as the only argument panics"},
	{`{"!": {"var": "e"}}`, `{"e": []}`, `true`, "an empty array as the only argument is an empty argument list"},
	{`{"if": [{"var": "e"}, "y", "n"]}`, `{"e": {}}`, `"n"`, "an object as a condition panics"},
	{`{"max": [true, 0]}`, ``, `1`, "arithmetic on a boolean panics"},
	{`{"+": [null, 1]}`, ``, `1`, "arithmetic on null panics"},
	{`{"in": [1, "123"]}`, ``, `true`, "a number looked for in a string panics"},
	{`{"in": ["a", 5]}`, ``, `false`, "a number as the haystack panics"},
	{`{"cat": ["a", true]}`, ``, `"atrue"`, "cat of a boolean panics"},
	{`{"cat": ["a", [1, 2]]}`, ``, `"a[1,2]"`, "cat of an array panics"},
	{`{"cat": 1}`, ``, `"1"`, "cat of a bare number panics"},
	{`{"substr": ["jsonlogic", 2, -100]}`, ``, `""`, "a length before the start panics"},
	{`{"substr": ["abc"]}`, ``, `"abc"`, "substr without a start panics"},
	{`{"var": "a.-1"}`, `{"a": [10, 20]}`, `null`, "a negative index panics"},
	{`{"var": [""]}`, `{"a": 1}`, `{"a":1}`, "a path of \"\" in a list gives null; bare, it gives the data, as here"},
	{`{"?:": [1, "a", "b"]}`, ``, `"a"`, "a condition that is not a boolean panics"},
	{`{"reduce": [[1, 2], {"+": [{"var": "current"}, {"var": "accumulator"}]}, null]}`, ``, `3`, "a null initial value fails"},
	{`{"reduce": [[1, 2], {"+": [{"var": "current"}, {"var": "accumulator"}]}]}`, ``, `3`, "a missing initial value panics"},

	// flagd's engine reads data the rule did not name.
	{`{"var": "a.b.c"}`, `{"a": {"b": "s", "c": 3}}`, `null`, "past a string, the rest of the path is read from the same object: a.c"},
	{`{"var": "a.x"}`, `{"a": [10, 20]}`, `null`, "a name that is not a number indexes an array at 0"},
	{`{"in": ["a", [{"var": "x"}]]}`, `{"x": "a"}`, `true`, "a rule inside an array argument is not evaluated: the array holds the rule's JSON"},
	{`{"map": [[{"a": 1}, {"a": 2}], {"var": "a"}]}`, ``, `error`, "objects inside an array argument are data there; here, as in JsonLogic, they are rules, and {\"a\": 1} has no operator a"},
	{`{"missing": [["a", "b"]]}`, `{"b": 1}`, `["a"]`, "a list of keys given as one array is read as {\"var\": [\"a\", \"b\"]}, a var with a default"},

	// flagd's engine gives the wrong truth value.
	{`{"and": [true, null]}`, ``, `null`, "and skips null, true, strings and objects, and is then true"},
	{`{"and": [0, 5]}`, ``, `0`, "and returns the largest number, which here is true"},
	{`{"and": [true, -1]}`, ``, `-1`, "and returns the largest number or 0, which here is false"},
	{`{"and": [[1], false]}`, ``, `false`, "and returns the first array, whatever follows"},
	{`{"and": [true, "a"]}`, ``, `"a"`, "and of truthy operands is true rather than the last operand"},
	{`{"!": null}`, ``, `true`, "! of a bare null is null"},
	{`{"!": {"var": "missing"}}`, ``, `true`, "! of a bare rule that gives null is null"},

	// flagd's engine drops elements.
	{`{"map": [[1, 2], {"==": [{"var": ""}, 2]}]}`, ``, `[false,true]`, "map keeps only truthy results and numbers"},
	{`{"merge": [null, 1]}`, ``, `[null,1]`, "merge drops nulls and objects"},
	{`{"reduce": [[1, null, 2], {"+": [{"var": "accumulator"}, 1]}, 0]}`, ``, `3`, "reduce skips null items"},
	{`{"reduce": [{"var": "missing"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 10]}`, ``, `10`, "reduce over null gives 0, not the initial value"},

	// flagd's engine has no such operator.
	{`{"log": "a"}`, ``, `"a"`, "there is no log: an unknown operator with one argument gives its truthiness"},
	{`{"max": 5}`, ``, `5`, "max with a bare number falls into the same unknown-operator path"},
}

func TestDepartsFromFlagdEngine(t *testing.T) {
	for _, c := range departures {
		data := orEmpty(c.data)
		got := "error"
		if v, err := ourApply(c.rule, data); err == nil {
			b, _ := json.Marshal(v)
			got = string(b)
		}
		if got != c.ours {
			t.Errorf("%s on %s = %s, want %s (%s)", c.rule, data, got, c.ours, c.why)
		}
		theirs, err := flagdApply(c.rule, data)
		if b, _ := json.Marshal(theirs); err == nil && string(b) == c.ours {
			t.Errorf("%s on %s: flagd's engine now agrees (%s); move the case to agreements", c.rule, data, b)
		}
	}
}

// TestAgreesWithFlagdEngineOnRandomRules generates rules from a grammar
// of the standard operators, over random data of a fixed shape, and
// compares the two engines. Rules on which flagd's engine fails are
// skipped, and the grammar avoids the departures above: and takes only
// boolean operands, map only arithmetic, ! a list, var paths never pass
// through a string, and literal arrays hold no rules, nulls or objects.
func TestAgreesWithFlagdEngineOnRandomRules(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	compared := 0
	for i := range 20000 {
		g := ruleGen{r: r}
		rule, _ := json.Marshal(g.any(4))
		data, _ := json.Marshal(g.data())
		want, err := flagdApply(string(rule), string(data))
		if err != nil {
			continue
		}
		compared++
		got, err := ourApply(string(rule), string(data))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: %s on %s = %#v (%v), flagd's engine gives %#v", i, rule, data, got, err, want)
		}
	}
	if compared < 10000 {
		t.Fatalf("only %d of 20000 rules were comparable", compared)
	}
}

// ruleGen generates rules. item says what the data is inside map,
// filter, all, some and none: "" at the top, "scalar" for an item of l,
// "object" for an item of r.
type ruleGen struct {
	r    *rand.Rand
	item string
}

func (g *ruleGen) pick(xs ...any) any { return xs[g.r.IntN(len(xs))] }

func (g *ruleGen) scalar() any {
	return g.pick(0.0, 1.0, 2.0, -1.0, 1.5, 10.0, "", "0", "1", "1.0", "a", "abc", " 1", "10", "b", true, false, nil)
}

// data is a context: fixed keys with random values; x is sometimes
// there, to shadow the x of r's items.
func (g *ruleGen) data() map[string]any {
	d := map[string]any{
		"n": g.pick(0.0, 1.0, 5.0, -2.0, 2.5), "m": g.pick(0.0, 3.0, "3", "a"),
		"s": g.pick("", "a", "abc", "1", "0"), "t": g.pick("b", "10", " x "),
		"b": g.pick(true, false), "z": nil,
		"l": g.list(),
		"o": map[string]any{"x": g.scalar(), "y": g.scalar()},
		"r": []any{},
	}
	for range g.r.IntN(4) {
		d["r"] = append(d["r"].([]any), map[string]any{"x": g.scalar(), "y": g.scalar()})
	}
	if g.r.IntN(2) == 0 {
		d["x"] = g.scalar()
	}
	return d
}

// list is a literal array of numbers and strings.
func (g *ruleGen) list() []any {
	l := []any{}
	for range g.r.IntN(4) {
		l = append(l, g.pick(0.0, 1.0, 2.0, 3.5, -1.0, "", "1", "a", "abc"))
	}
	return l
}

// l is {"var": "l"}, or inside an iteration, where l may be missing
// (flagd's engine drops or skips nulls there), a literal list.
func (g *ruleGen) l() any {
	if g.item != "" {
		return g.list()
	}
	return map[string]any{"var": "l"}
}

func (g *ruleGen) args(n, depth int, gen func(int) any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = gen(depth - 1)
	}
	return out
}

func (g *ruleGen) leaf() any {
	if g.r.IntN(3) == 0 {
		return g.scalar()
	}
	paths := []any{"n", "m", "s", "t", "b", "z", "missing", "l.0", "l.1", "l.9", "o.x", "o.y", "o.q", "x"}
	switch g.item {
	case "scalar":
		paths = append(paths, "", "", "")
	case "object":
		paths = append(paths, "x", "y", ".x", ".y")
	}
	p := g.pick(paths...)
	if p != "" && g.r.IntN(4) == 0 {
		return map[string]any{"var": []any{p, g.scalar()}}
	}
	return map[string]any{"var": p}
}

// boolean generates a rule that gives true or false.
func (g *ruleGen) boolean(depth int) any {
	if depth <= 0 {
		return map[string]any{"!!": []any{g.leaf()}}
	}
	op := g.pick("==", "!=", "===", "!==", "<", "<=", ">", ">=", "!", "!!", "in", "all", "some", "none").(string)
	switch op {
	case "!", "!!":
		return map[string]any{op: []any{g.any(depth - 1)}}
	case "<", "<=", ">", ">=":
		return map[string]any{op: g.args(2+g.r.IntN(2), depth, g.any)}
	case "in":
		hay := g.pick(g.list(), "abc", map[string]any{"var": "l"}, map[string]any{"var": "s"}, map[string]any{"cat": []any{"a", g.leaf()}})
		return map[string]any{op: []any{g.any(depth - 1), hay}}
	case "all", "some", "none":
		return g.iteration(op, depth, g.boolean)
	}
	return map[string]any{op: g.args(1+g.r.IntN(2), depth, g.any)}
}

// iteration generates op over l, r or a literal list, with an inner
// rule from gen.
func (g *ruleGen) iteration(op string, depth int, gen func(int) any) any {
	list, item := any(map[string]any{"var": "l"}), "scalar"
	switch g.r.IntN(3) {
	case 1:
		list, item = map[string]any{"var": "r"}, "object"
	case 2:
		list = g.list()
	}
	outer := g.item
	g.item = item
	inner := gen(depth - 1)
	g.item = outer
	return map[string]any{op: []any{list, inner}}
}

// number generates a rule that gives a number.
func (g *ruleGen) number(depth int) any {
	if depth <= 0 {
		return map[string]any{"+": []any{g.leaf()}}
	}
	op := g.pick("+", "-", "*", "/", "%", "max", "min").(string)
	if op == "%" { // with one argument, % is its truthiness
		return map[string]any{op: g.args(2, depth, g.any)}
	}
	return map[string]any{op: g.args(1+g.r.IntN(3), depth, g.any)}
}

func (g *ruleGen) any(depth int) any {
	if depth <= 0 || g.r.IntN(5) == 0 {
		return g.leaf()
	}
	switch g.r.IntN(12) {
	case 0, 1:
		return g.boolean(depth)
	case 2:
		return g.number(depth)
	case 3:
		return map[string]any{"and": g.args(1+g.r.IntN(3), depth, g.boolean)}
	case 4:
		return map[string]any{"or": g.args(1+g.r.IntN(3), depth, g.any)}
	case 5:
		return map[string]any{g.pick("if", "?:").(string): g.args(1+g.r.IntN(5), depth, g.any)}
	case 6:
		return map[string]any{"cat": g.args(1+g.r.IntN(3), depth, g.any)}
	case 7:
		a := []any{g.any(depth - 1), float64(g.r.IntN(11) - 5)}
		if g.r.IntN(2) == 0 {
			a = append(a, float64(g.r.IntN(11)-5))
		}
		return map[string]any{"substr": a}
	case 8:
		parts := []any{}
		for range 1 + g.r.IntN(3) {
			parts = append(parts, g.pick(g.list(), "a", 1.0, g.l()))
		}
		return map[string]any{"merge": parts}
	case 9:
		keys := []any{}
		for range 1 + g.r.IntN(3) {
			keys = append(keys, g.pick("n", "z", "missing", "o.x", "o.q", "l.0"))
		}
		if g.r.IntN(2) == 0 {
			return map[string]any{"missing": keys}
		}
		return map[string]any{"missing_some": []any{float64(g.r.IntN(3)), keys}}
	case 10:
		if g.r.IntN(2) == 0 {
			return g.iteration("map", depth, g.number)
		}
		return g.iteration("filter", depth, g.boolean)
	}
	step := g.pick(
		map[string]any{"+": []any{map[string]any{"var": "accumulator"}, map[string]any{"var": "current"}}},
		map[string]any{"cat": []any{map[string]any{"var": "accumulator"}, map[string]any{"var": "current"}}},
		map[string]any{"or": []any{map[string]any{"var": "accumulator"}, map[string]any{"var": "current"}}},
	)
	return map[string]any{"reduce": []any{g.l(), step, g.pick(0.0, "", true, false, "x")}}
}
