package flags

import (
	"fmt"
	"math"
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
		return c.variable(list, path)
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
	return build(args), nil
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

// variable compiles {"var": [path, default]}.
func (c *compiler) variable(list []any, path string) (node, error) {
	if len(list) == 0 {
		return node{eval: func(e env) value { return e.data }}, nil
	}
	fallback := null
	if len(list) > 1 {
		d, err := c.compile(list[1], path+"/1")
		if err != nil {
			return node{}, err
		}
		if d.konst == nil {
			return node{}, errorf(path+"/1", "the default of var must be a literal")
		}
		fallback = *d.konst
	}
	switch p := list[0].(type) {
	case nil:
		return node{eval: func(e env) value { return e.data }}, nil
	case string, float64:
		key := fromAny(p).toString()
		switch key {
		case "":
			return node{eval: func(e env) value { return e.data }}, nil
		case "$flagd.flagKey":
			return node{eval: func(e env) value {
				if !e.inner {
					return str(e.flagKey)
				}
				return lookupOr(e.data, []string{"$flagd", "flagKey"}, fallback)
			}}, nil
		case "$flagd.timestamp":
			c.timestamp = true
			return node{eval: func(e env) value {
				if !e.inner {
					return number(float64(e.now))
				}
				return lookupOr(e.data, []string{"$flagd", "timestamp"}, fallback)
			}}, nil
		}
		segs := strings.Split(key, ".")
		if len(segs) == 1 { // the common case: a top-level attribute
			return node{eval: func(e env) value {
				if m, ok := e.data.v.(map[string]any); ok {
					if x, found := m[key]; found && x != nil {
						return fromAny(x)
					}
					return fallback
				}
				return lookupOr(e.data, segs, fallback)
			}}, nil
		}
		return node{eval: func(e env) value { return lookupOr(e.data, segs, fallback) }}, nil
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
		return lookupOr(e.data, strings.Split(key, "."), fallback)
	}}, nil
}

// lookupOr walks data by the path's segments; a missing or null value
// gives fallback.
func lookupOr(data value, segs []string, fallback value) value {
	cur := data.toAny()
	for _, s := range segs {
		switch t := cur.(type) {
		case map[string]any:
			next, ok := t[s]
			if !ok {
				return fallback
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return fallback
			}
			cur = t[i]
		default:
			if m, ok := mapOf(cur); ok {
				next, found := m[s]
				if !found {
					return fallback
				}
				cur = next
				continue
			}
			return fallback
		}
	}
	if cur == nil {
		return fallback
	}
	return fromAny(cur)
}

// mapOf accepts maps of other element types from Go callers.
func mapOf(x any) (map[string]any, bool) {
	if x == nil {
		return nil, false
	}
	v := fromAny(x)
	if v.kind != kObject {
		return nil, false
	}
	m, ok := v.v.(map[string]any)
	return m, ok
}

// operators builds the standard JsonLogic operations and flagd's string
// operators from compiled arguments.
var operators = map[string]func(args []node) node{
	"if":  ifThenElse,
	"?:":  ifThenElse,
	"==":  equality(looseEqual, false),
	"!=":  equality(looseEqual, true),
	"===": equality(strictEqual, false),
	"!==": equality(strictEqual, true),
	"!": func(args []node) node {
		a := arg(args, 0)
		return node{eval: func(e env) value { return boolean(!a.eval(e).truthy()) }}
	},
	"!!": func(args []node) node {
		a := arg(args, 0)
		return node{eval: func(e env) value { return boolean(a.eval(e).truthy()) }}
	},
	"or":  logical(true),
	"and": logical(false),
	"<":   relational(func(c int) bool { return c < 0 }),
	"<=":  relational(func(c int) bool { return c <= 0 }),
	">":   relational(func(c int) bool { return c > 0 }),
	">=":  relational(func(c int) bool { return c >= 0 }),
	"max": extreme(func(a, b float64) bool { return a > b }),
	"min": extreme(func(a, b float64) bool { return a < b }),
	"+": func(args []node) node {
		return node{eval: func(e env) value {
			sum := 0.0
			for _, a := range args {
				sum += a.eval(e).toNumber()
			}
			return number(sum)
		}}
	},
	"*": func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) == 0 {
				return null
			}
			p := 1.0
			for _, a := range args {
				p *= a.eval(e).toNumber()
			}
			return number(p)
		}}
	},
	"-": func(args []node) node {
		return node{eval: func(e env) value {
			switch len(args) {
			case 0:
				return null
			case 1:
				return number(-args[0].eval(e).toNumber())
			}
			return number(args[0].eval(e).toNumber() - args[1].eval(e).toNumber())
		}}
	},
	"/": binaryNumber(func(a, b float64) float64 { return a / b }),
	"%": binaryNumber(math.Mod),
	"in": func(args []node) node {
		needle, hay := arg(args, 0), arg(args, 1)
		if hay.konst != nil && hay.konst.kind == kArray { // a literal list: convert it once
			items := hay.konst.items()
			list := make([]value, len(items))
			for i, it := range items {
				list[i] = fromAny(it)
			}
			return node{eval: func(e env) value {
				n := needle.eval(e)
				for _, it := range list {
					if strictEqual(n, it) {
						return boolean(true)
					}
				}
				return boolean(false)
			}}
		}
		return node{eval: func(e env) value {
			h := hay.eval(e)
			switch h.kind {
			case kString:
				n := needle.eval(e)
				return boolean(strings.Contains(h.s, n.toString()))
			case kArray:
				n := needle.eval(e)
				for _, it := range h.items() {
					if strictEqual(n, fromAny(it)) {
						return boolean(true)
					}
				}
			}
			return boolean(false)
		}}
	},
	"cat": func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) == 1 {
				return str(args[0].eval(e).toString())
			}
			var buf []byte
			for _, a := range args {
				buf = a.eval(e).appendString(buf)
			}
			return str(string(buf))
		}}
	},
	"substr": func(args []node) node {
		s, start, length := arg(args, 0), arg(args, 1), args[min(2, len(args)):]
		return node{eval: func(e env) value {
			r := []rune(s.eval(e).toString())
			from := int(start.eval(e).toNumber())
			if from < 0 {
				from = max(len(r)+from, 0)
			}
			from = min(from, len(r))
			to := len(r)
			if len(length) > 0 {
				n := int(length[0].eval(e).toNumber())
				if n < 0 {
					to = max(len(r)+n, from)
				} else {
					to = min(from+n, len(r))
				}
			}
			return str(string(r[from:to]))
		}}
	},
	"merge": func(args []node) node {
		return node{eval: func(e env) value {
			var out []any
			for _, a := range args {
				v := a.eval(e)
				if v.kind == kArray {
					out = append(out, v.items()...)
				} else {
					out = append(out, v.toAny())
				}
			}
			if out == nil {
				out = []any{}
			}
			return array(out)
		}}
	},
	"missing": func(args []node) node {
		return node{eval: func(e env) value { return array(missing(e, args)) }}
	},
	"missing_some": func(args []node) node {
		need, keys := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value {
			list := keys.eval(e).items()
			var absent []any
			for _, k := range list {
				if lookupOr(e.data, strings.Split(fromAny(k).toString(), "."), null).kind == kNull {
					absent = append(absent, k)
				}
			}
			if len(list)-len(absent) >= int(need.eval(e).toNumber()) {
				return array([]any{})
			}
			return array(absent)
		}}
	},
	"map":    iterate(func(_ value, out value, acc []any) []any { return append(acc, out.toAny()) }),
	"filter": iterate(keepIf),
	"all":    quantifier(func(hits, n int) bool { return n > 0 && hits == n }),
	"some":   quantifier(func(hits, _ int) bool { return hits > 0 }),
	"none":   quantifier(func(hits, _ int) bool { return hits == 0 }),
	"reduce": reduce,
	"log": func(args []node) node {
		a := arg(args, 0)
		return node{eval: a.eval}
	},
	"fractional":  nil, // compiled by (*compiler).fractional
	"sem_ver":     semVer,
	"starts_with": stringTest(strings.HasPrefix),
	"ends_with":   stringTest(strings.HasSuffix),
}

// arg returns argument i, or a null literal when there is none.
func arg(args []node, i int) node {
	if i < len(args) {
		return args[i]
	}
	return constant(null)
}

func ifThenElse(args []node) node {
	return node{eval: func(e env) value {
		i := 0
		for ; i+1 < len(args); i += 2 {
			if args[i].eval(e).truthy() {
				return args[i+1].eval(e)
			}
		}
		if i < len(args) {
			return args[i].eval(e)
		}
		return null
	}}
}

func equality(eq func(a, b value) bool, negate bool) func([]node) node {
	return func(args []node) node {
		a, b := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value { return boolean(eq(a.eval(e), b.eval(e)) != negate) }}
	}
}

// logical is "or" (stop at the first truthy argument) or "and" (stop at
// the first falsy one); either returns the argument it stopped at, or
// the last.
func logical(stopWhen bool) func([]node) node {
	return func(args []node) node {
		return node{eval: func(e env) value {
			v := null
			for _, a := range args {
				v = a.eval(e)
				if v.truthy() == stopWhen {
					return v
				}
			}
			return v
		}}
	}
}

// relational compares two arguments, or with three checks that the
// middle one lies between the others ("between").
func relational(holds func(int) bool) func([]node) node {
	return func(args []node) node {
		a, b := arg(args, 0), arg(args, 1)
		if len(args) >= 3 {
			c := args[2]
			return node{eval: func(e env) value {
				x, y, z := a.eval(e), b.eval(e), c.eval(e)
				c1, ok1 := compare(x, y)
				c2, ok2 := compare(y, z)
				return boolean(ok1 && ok2 && holds(c1) && holds(c2))
			}}
		}
		return node{eval: func(e env) value {
			c, ok := compare(a.eval(e), b.eval(e))
			return boolean(ok && holds(c))
		}}
	}
}

func extreme(better func(a, b float64) bool) func([]node) node {
	return func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) == 0 {
				return null
			}
			best := args[0].eval(e).toNumber()
			for _, a := range args[1:] {
				n := a.eval(e).toNumber()
				if math.IsNaN(n) {
					return null
				}
				if better(n, best) {
					best = n
				}
			}
			if math.IsNaN(best) {
				return null
			}
			return number(best)
		}}
	}
}

func binaryNumber(op func(a, b float64) float64) func([]node) node {
	return func(args []node) node {
		a, b := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value { return number(op(a.eval(e).toNumber(), b.eval(e).toNumber())) }}
	}
}

func missing(e env, args []node) []any {
	absent := []any{}
	keys := args
	if len(args) == 1 {
		if v := args[0].eval(e); v.kind == kArray {
			for _, k := range v.items() {
				if lookupOr(e.data, strings.Split(fromAny(k).toString(), "."), null).kind == kNull {
					absent = append(absent, k)
				}
			}
			return absent
		}
	}
	for _, k := range keys {
		key := k.eval(e).toString()
		if lookupOr(e.data, strings.Split(key, "."), null).kind == kNull {
			absent = append(absent, key)
		}
	}
	return absent
}

// iterate runs args[1] over each item of the array args[0], with the item
// as the data; step folds each result into the output array.
func iterate(step func(item, out value, acc []any) []any) func([]node) node {
	return func(args []node) node {
		list, fn := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value {
			acc := []any{}
			for _, it := range list.eval(e).items() {
				item := fromAny(it)
				inner := e
				inner.data, inner.inner = item, true
				acc = step(item, fn.eval(inner), acc)
			}
			return array(acc)
		}}
	}
}

func keepIf(item, out value, acc []any) []any {
	if out.truthy() {
		acc = append(acc, item.toAny())
	}
	return acc
}

func quantifier(holds func(hits, n int) bool) func([]node) node {
	return func(args []node) node {
		list, fn := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value {
			items := list.eval(e).items()
			hits := 0
			for _, it := range items {
				inner := e
				inner.data, inner.inner = fromAny(it), true
				if fn.eval(inner).truthy() {
					hits++
				}
			}
			return boolean(holds(hits, len(items)))
		}}
	}
}

// reduce folds an array: the rule sees {"current": item, "accumulator": acc}.
func reduce(args []node) node {
	list, fn, initial := arg(args, 0), arg(args, 1), arg(args, 2)
	return node{eval: func(e env) value {
		acc := initial.eval(e)
		for _, it := range list.eval(e).items() {
			inner := e
			inner.inner = true
			inner.data = value{kind: kObject, v: map[string]any{"current": it, "accumulator": acc.toAny()}}
			acc = fn.eval(inner)
		}
		return acc
	}}
}

// stringTest is flagd's starts_with and ends_with: exactly two string
// arguments, else null (so the default variant applies).
func stringTest(test func(s, affix string) bool) func([]node) node {
	return func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) != 2 {
				return null
			}
			s, affix := args[0].eval(e), args[1].eval(e)
			if s.kind != kString || affix.kind != kString {
				return null
			}
			return boolean(test(s.s, affix.s))
		}}
	}
}
