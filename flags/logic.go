package flags

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Targeting rules are JsonLogic (https://jsonlogic.com) with flagd's
// operators. They are compiled once, when definitions load, into a tree
// of Go closures; an evaluation walks the closures, never the JSON.

// env is what a rule sees while it runs.
type env struct {
	data    value  // the evaluation context, or the item inside map/filter/...
	ctx     value  // the evaluation context itself
	flagKey string // for $flagd.flagKey and fractional's default bucketing
	now     int64  // unix seconds, for $flagd.timestamp
	inner   bool   // data is an item of map, filter, reduce, all, some or none
	scopes  []scope
}

// scope is data that a var looks in before the data it runs on. flagd's
// engine resolves a var inside filter, map and none against the
// enclosing data first and then the item, inside some against the item
// and then the enclosing data, and inside all and reduce against the
// item only; so a rule over a list can read the context. top marks the
// context itself, which also holds $flagd.
type scope struct {
	data value
	top  bool
}

// enclosing returns e's scopes followed by more.
func (e env) enclosing(more ...scope) []scope {
	return append(slices.Clip(e.scopes), more...)
}

// resolve is the value of a var with path segs: from the first scope
// that holds it, else from e.data. A default that is not null is taken
// at the first scope, where flagd's engine substitutes it. fromTop, when
// not nil, answers for the context ($flagd.*).
func (e env) resolve(segs []string, fallback node, fromTop func(env) value) value {
	for _, s := range e.scopes {
		if s.top && fromTop != nil {
			return fromTop(e)
		}
		if v, ok := lookup(s.data, segs); ok {
			return v
		}
		if d := fallback.eval(e); d.kind != kNull {
			return d
		}
	}
	return lookupElse(e, e.data, segs, fallback)
}

// node is a compiled rule. konst is set when the rule is a literal.
type node struct {
	eval  func(env) value
	konst *value
}

func constant(v value) node {
	return node{eval: func(env) value { return v }, konst: &v}
}

// compiler compiles the rules of one set of definitions.
type compiler struct {
	evaluators map[string]any  // $evaluators, raw
	shared     map[string]node // compiled $evaluators
	resolving  []string        // $ref chain, to refuse cycles
	timestamp  bool            // a rule read $flagd.timestamp
}

// ruleError is a rule that cannot compile, with the JSON pointer of the
// offending part.
type ruleError struct {
	path string
	msg  string
}

func (e *ruleError) Error() string { return e.path + ": " + e.msg }

func errorf(path, format string, args ...any) error {
	return &ruleError{path: path, msg: fmt.Sprintf(format, args...)}
}

// pointer escapes a JSON Pointer token (RFC 6901).
func pointer(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}

func (c *compiler) compile(raw any, path string) (node, error) {
	switch t := raw.(type) {
	case map[string]any:
		if len(t) == 0 {
			return constant(value{kind: kObject, v: t}), nil
		}
		if len(t) != 1 {
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return node{}, errorf(path, "a rule has exactly one operator, found %d keys %q", len(t), keys)
		}
		for op, args := range t {
			return c.operation(op, args, path+"/"+pointer(op))
		}
	case []any:
		items, konst, err := c.compileAll(t, path)
		if err != nil {
			return node{}, err
		}
		if konst {
			out := make([]any, len(items))
			for i, it := range items {
				out[i] = it.konst.toAny()
			}
			return constant(array(out)), nil
		}
		return node{eval: func(e env) value {
			out := make([]any, len(items))
			for i, it := range items {
				out[i] = it.eval(e).toAny()
			}
			return array(out)
		}}, nil
	}
	return constant(fromAny(raw)), nil
}

func (c *compiler) compileAll(raw []any, path string) ([]node, bool, error) {
	nodes := make([]node, len(raw))
	konst := true
	for i, r := range raw {
		n, err := c.compile(r, path+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, false, err
		}
		nodes[i] = n
		konst = konst && n.konst != nil
	}
	return nodes, konst, nil
}

// operation compiles {op: args}. A single argument may be given bare.
func (c *compiler) operation(op string, rawArgs any, path string) (node, error) {
	if op == "$ref" {
		return c.ref(rawArgs, path)
	}
	list, isList := rawArgs.([]any)
	if !isList {
		list = []any{rawArgs}
	}
	if op == "var" {
		return c.variable(list, !isList, path)
	}
	build, ok := operators[op]
	if !ok {
		return node{}, errorf(path, "unknown operator %q", op)
	}
	if op == "fractional" {
		return c.fractional(list, path)
	}
	args, _, err := c.compileAll(list, path)
	if err != nil {
		return node{}, err
	}
	switch {
	case len(args) == 1 && truthOfOne[op]:
		// flagd's engine reads a comparison given one argument as that
		// argument's truthiness.
		return operators["!!"](args), nil
	case op == "cat" && !isList:
		// {"cat": "x"} is x itself: flagd's engine trims only a list.
		a := args[0]
		return node{eval: func(e env) value { return str(a.eval(e).toString()) }}, nil
	}
	return build(args), nil
}

// truthOfOne lists the operators that, given one argument, give its
// truthiness.
var truthOfOne = map[string]bool{
	"==": true, "!=": true, "===": true, "!==": true, "<": true, "<=": true,
	">": true, ">=": true, "in": true, "%": true, "?:": true,
}

// ref resolves {"$ref": "name"} to the compiled $evaluators entry.
func (c *compiler) ref(raw any, path string) (node, error) {
	name, ok := raw.(string)
	if !ok {
		return node{}, errorf(path, "$ref must name an evaluator")
	}
	if n, ok := c.shared[name]; ok {
		return n, nil
	}
	rule, ok := c.evaluators[name]
	if !ok {
		return node{}, errorf(path, "$ref %q: no such evaluator in $evaluators", name)
	}
	if slices.Contains(c.resolving, name) {
		return node{}, errorf(path, "$ref %q: evaluators refer to each other in a cycle (%s)", name, strings.Join(append(c.resolving, name), " -> "))
	}
	c.resolving = append(c.resolving, name)
	n, err := c.compile(rule, "/$evaluators/"+pointer(name))
	c.resolving = c.resolving[:len(c.resolving)-1]
	if err != nil {
		return node{}, err
	}
	if c.shared == nil {
		c.shared = map[string]node{}
	}
	c.shared[name] = n
	return n, nil
}

// variable compiles {"var": [path, default]}, or {"var": path} when bare.
func (c *compiler) variable(list []any, bare bool, path string) (node, error) {
	if len(list) == 0 {
		return node{eval: func(e env) value { return e.data }}, nil
	}
	fallback := constant(null)
	if len(list) == 2 { // flagd's engine ignores a default among more arguments
		d, err := c.compile(list[1], path+"/1")
		if err != nil {
			return node{}, err
		}
		fallback = d
	}
	switch p := list[0].(type) {
	case nil:
		return node{eval: func(e env) value { return e.data }}, nil
	case string, float64:
		key := fromAny(p).toString()
		switch key {
		case "":
			return node{eval: func(e env) value { return e.data }}, nil
		case "$flagd.flagKey", "$flagd.timestamp":
			fromTop := func(e env) value { return str(e.flagKey) }
			if key == "$flagd.timestamp" {
				c.timestamp = true
				fromTop = func(e env) value { return number(float64(e.now)) }
			}
			segs := splitPath(key)
			return node{eval: func(e env) value {
				if !e.inner {
					return fromTop(e)
				}
				return e.resolve(segs, fallback, fromTop)
			}}, nil
		}
		segs := splitPath(key)
		switch {
		case len(segs) == 0: // ".": flagd's engine gives null, not the default
			return constant(null), nil
		case bare && key[0] == '.': // flagd's engine looks only in the data
			return node{eval: func(e env) value { return lookupElse(e, e.data, segs, fallback) }}, nil
		case len(segs) == 1: // the common case: a top-level attribute
			key := segs[0]
			return node{eval: func(e env) value {
				if len(e.scopes) > 0 {
					return e.resolve(segs, fallback, nil)
				}
				if m, ok := e.data.v.(map[string]any); ok {
					if x, found := m[key]; found && x != nil {
						return fromAny(x)
					}
					return fallback.eval(e)
				}
				return lookupElse(e, e.data, segs, fallback)
			}}, nil
		}
		return node{eval: func(e env) value { return e.resolve(segs, fallback, nil) }}, nil
	}
	dyn, err := c.compile(list[0], path+"/0")
	if err != nil {
		return node{}, err
	}
	return node{eval: func(e env) value {
		key := dyn.eval(e).toString()
		if key == "" {
			return e.data
		}
		segs := splitPath(key)
		if len(segs) == 0 {
			return null
		}
		return lookupElse(e, e.data, segs, fallback)
	}}, nil
}

// splitPath splits a var path at its dots. Empty segments are skipped,
// as flagd's engine does: "a..b" and ".a.b" are "a.b".
func splitPath(key string) []string {
	segs := strings.Split(key, ".")
	if !slices.Contains(segs, "") {
		return segs
	}
	return slices.DeleteFunc(segs, func(s string) bool { return s == "" })
}

// lookupOr walks data by the path's segments; a missing or null value
// gives fallback.
func lookupOr(data value, segs []string, fallback value) value {
	if v, ok := lookup(data, segs); ok {
		return v
	}
	return fallback
}

// lookupElse is lookupOr with a fallback rule, evaluated in e.
func lookupElse(e env, data value, segs []string, fallback node) value {
	if v, ok := lookup(data, segs); ok {
		return v
	}
	return fallback.eval(e)
}

// lookup walks data by the path's segments; ok is false when the value
// is missing or null. An array index is a number ("1", or "1e0" as
// flagd's engine reads it).
func lookup(data value, segs []string) (value, bool) {
	cur := data.toAny()
	for _, s := range segs {
		next, ok := child(cur, s)
		if !ok {
			return null, false
		}
		cur = next
	}
	if cur == nil {
		return null, false
	}
	return fromAny(cur), true
}

// child is the member of x that one path segment names. flagd marshals
// the context to JSON before evaluating it, so any Go slice or array is
// an array and any Go map with string keys an object; JSON's own types
// are read without reflection.
func child(x any, seg string) (any, bool) {
	switch t := x.(type) {
	case map[string]any:
		v, ok := t[seg]
		return v, ok
	case []any:
		i, ok := arrayIndex(seg, len(t))
		if !ok {
			return nil, false
		}
		return t[i], true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Map:
		keyType := rv.Type().Key()
		if keyType.Kind() != reflect.String {
			return nil, false
		}
		v := rv.MapIndex(reflect.ValueOf(seg).Convert(keyType))
		if !v.IsValid() {
			return nil, false
		}
		return v.Interface(), true
	case reflect.Slice, reflect.Array:
		i, ok := arrayIndex(seg, rv.Len())
		if !ok {
			return nil, false
		}
		return rv.Index(i).Interface(), true
	}
	return nil, false
}

// arrayIndex reads seg as an index into an array of length n.
func arrayIndex(seg string, n int) (int, bool) {
	i, err := strconv.ParseFloat(seg, 64)
	if err != nil || i < 0 || i >= float64(n) {
		return 0, false
	}
	return int(i), true
}

// present says whether a missing or missing_some key names a value;
// "" names the data itself.
func present(data value, key value) bool {
	path := key.toString()
	if path == "" {
		return data.kind != kNull
	}
	segs := splitPath(path)
	if len(segs) == 0 {
		return false
	}
	_, ok := lookup(data, segs)
	return ok
}
