package flags

import (
	"bytes"
	"math"
	"strings"
)

// operators builds the standard JsonLogic operations and flagd's string
// operators from compiled arguments.
var operators = map[string]func(args []node) node{
	"if": ifThenElse,
	"?:": func(args []node) node { // exactly a ternary: flagd's engine ignores more arguments
		return ifThenElse(args[:min(len(args), 3)])
	},
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
	"or": func(args []node) node {
		return node{eval: func(e env) value {
			for _, a := range args {
				if v := a.eval(e); v.truthy() {
					return v
				}
			}
			return boolean(false) // flagd's engine: false, not the last value
		}}
	},
	"and": func(args []node) node {
		return node{eval: func(e env) value {
			v := null
			for _, a := range args {
				if v = a.eval(e); !v.truthy() {
					return v
				}
			}
			return v
		}}
	},
	"<":   relational(less, func(a, b, c value) bool { return less(a, b) && less(b, c) }),
	"<=":  relational(lessOrEqual, func(a, b, c value) bool { return lessOrEqual(a, b) && lessOrEqual(b, c) }),
	">":   relational(func(a, b value) bool { return less(b, a) }, func(a, b, c value) bool { return less(c, b) && less(b, a) }),
	">=":  relational(func(a, b value) bool { return less(b, a) || looseEqual(a, b) }, func(a, b, c value) bool { return lessOrEqual(c, b) && lessOrEqual(b, a) }),
	"max": extreme(func(a, b float64) bool { return a > b }),
	"min": extreme(func(a, b float64) bool { return a < b }),
	"+":   arithmetic(func(a, b float64) float64 { return a + b }, number(0), false),
	"*":   arithmetic(func(a, b float64) float64 { return a * b }, number(1), false),
	"-":   arithmetic(func(a, b float64) float64 { return a - b }, null, true),
	"/":   arithmetic(func(a, b float64) float64 { return a / b }, null, false),
	"%":   binaryNumber(math.Mod),
	"in": func(args []node) node {
		needle, hay := arg(args, 0), arg(args, 1)
		if hay.konst != nil && hay.konst.kind == kArray { // a literal list: convert it once
			items := hay.konst.items()
			list := make([]value, len(items))
			for i, it := range items {
				list[i] = fromAny(it)
			}
			return node{eval: func(e env) value { return boolean(inList(needle.eval(e), list)) }}
		}
		return node{eval: func(e env) value {
			h := hay.eval(e)
			switch h.kind {
			case kString:
				n := needle.eval(e)
				return boolean(n.kind != kNull && strings.Contains(h.s, n.toString()))
			case kArray:
				items := h.items()
				list := make([]value, len(items))
				for i, it := range items {
					list[i] = fromAny(it)
				}
				return boolean(inList(needle.eval(e), list))
			}
			return boolean(false)
		}}
	},
	"cat": func(args []node) node {
		return node{eval: func(e env) value {
			var buf []byte
			for _, a := range args {
				buf = a.eval(e).appendString(buf)
			}
			return str(string(bytes.TrimSpace(buf))) // flagd's engine trims
		}}
	},
	"substr": func(args []node) node {
		s, start := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value {
			r := []rune(s.eval(e).toString())
			from := int(start.eval(e).toNumber())
			if from < 0 {
				from += len(r)
			}
			if from < 0 || from > len(r) { // flagd's engine: the whole string
				return str(string(r))
			}
			to := len(r)
			if len(args) == 3 {
				n := int(args[2].eval(e).toNumber())
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
			absent := []any{}
			for _, k := range list {
				if !present(e.data, fromAny(k)) {
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
	"all": quantifier(func(hits, n int) bool { return n > 0 && hits == n },
		func(e env, _ value) []scope { return e.scopes }),
	"some": quantifier(func(hits, _ int) bool { return hits > 0 },
		func(e env, item value) []scope { return e.enclosing(scope{item, false}, scope{e.data, !e.inner}) }),
	"none": quantifier(func(hits, _ int) bool { return hits == 0 },
		func(e env, _ value) []scope { return e.enclosing(scope{e.data, !e.inner}) }),
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

// relational compares two arguments, or with three checks that the
// middle one lies between the others ("between").
func relational(two func(a, b value) bool, three func(a, b, c value) bool) func([]node) node {
	return func(args []node) node {
		a, b := arg(args, 0), arg(args, 1)
		if len(args) >= 3 {
			c := args[2]
			return node{eval: func(e env) value { return boolean(three(a.eval(e), b.eval(e), c.eval(e))) }}
		}
		return node{eval: func(e env) value { return boolean(two(a.eval(e), b.eval(e))) }}
	}
}

// lessOrEqual is flagd's a <= b: a < b, or a == b (so null <= 0 is false).
func lessOrEqual(a, b value) bool { return less(a, b) || looseEqual(a, b) }

// extreme is max or min; as in flagd's engine, a NaN never wins but one
// in first place stays.
func extreme(better func(a, b float64) bool) func([]node) node {
	return func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) == 0 {
				return null
			}
			best := args[0].eval(e).toNumber()
			for _, a := range args[1:] {
				if n := a.eval(e).toNumber(); better(n, best) {
					best = n
				}
			}
			return number(best)
		}}
	}
}

// arithmetic folds its arguments left to right as flagd's engine does
// (10 - 2 - 3 is 5). One argument is itself, or negated for "-"; none
// gives empty.
func arithmetic(op func(a, b float64) float64, empty value, negate bool) func([]node) node {
	return func(args []node) node {
		return node{eval: func(e env) value {
			if len(args) == 0 {
				return empty
			}
			acc := args[0].eval(e).toNumber()
			if len(args) == 1 && negate {
				return number(-acc)
			}
			for _, a := range args[1:] {
				acc = op(acc, a.eval(e).toNumber())
			}
			return number(acc)
		}}
	}
}

// inList is flagd's in for an array: null is in nothing, a number
// equals an element that parses to it, and an element that is itself a
// two-item array is a range [low, high] the needle may fall in.
func inList(needle value, list []value) bool {
	if needle.kind == kNull {
		return false
	}
	for _, el := range list {
		switch {
		case el.kind == kArray:
			if inRange(needle, el.items()) {
				return true
			}
		case needle.kind == kNumber && (el.kind == kNumber || el.kind == kString):
			if el.toNumber() == needle.n {
				return true
			}
		case strictEqual(needle, el):
			return true
		}
	}
	return false
}

func inRange(needle value, bounds []any) bool {
	if len(bounds) < 2 {
		return false
	}
	lo, hi := fromAny(bounds[0]), fromAny(bounds[1])
	if needle.kind == kNumber {
		return needle.n >= lo.toNumber() && hi.toNumber() >= needle.n
	}
	s := needle.toString()
	return s >= lo.toString() && hi.toString() >= s
}

func binaryNumber(op func(a, b float64) float64) func([]node) node {
	return func(args []node) node {
		a, b := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value { return number(op(a.eval(e).toNumber(), b.eval(e).toNumber())) }}
	}
}

func missing(e env, args []node) []any {
	absent := []any{}
	if len(args) == 1 {
		if v := args[0].eval(e); v.kind == kArray {
			for _, k := range v.items() {
				if !present(e.data, fromAny(k)) {
					absent = append(absent, k)
				}
			}
			return absent
		}
	}
	for _, k := range args {
		if key := k.eval(e); !present(e.data, key) {
			absent = append(absent, key.toAny())
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
			inner := e
			inner.inner, inner.scopes = true, e.enclosing(scope{e.data, !e.inner})
			for _, it := range list.eval(e).items() {
				item := fromAny(it)
				inner.data = item
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

// quantifier is all, some or none: holds decides from the number of
// items for which args[1] is truthy; scopes gives the scopes its vars
// see (see scope).
func quantifier(holds func(hits, n int) bool, scopes func(e env, item value) []scope) func([]node) node {
	return func(args []node) node {
		list, fn := arg(args, 0), arg(args, 1)
		return node{eval: func(e env) value {
			items := list.eval(e).items()
			hits := 0
			for _, it := range items {
				inner := e
				inner.data, inner.inner = fromAny(it), true
				inner.scopes = scopes(e, inner.data)
				if fn.eval(inner).truthy() {
					hits++
				}
			}
			return boolean(holds(hits, len(items)))
		}}
	}
}

// reduce folds an array: the rule sees {"current": item, "accumulator": acc}.
// As in flagd's engine, a boolean, number or string accumulator keeps
// its type: each step's result is converted to it.
func reduce(args []node) node {
	list, fn, initial := arg(args, 0), arg(args, 1), arg(args, 2)
	return node{eval: func(e env) value {
		acc := initial.eval(e)
		kind := acc.kind
		for _, it := range list.eval(e).items() {
			inner := e
			inner.inner = true
			inner.data = value{kind: kObject, v: map[string]any{"current": it, "accumulator": acc.toAny()}}
			acc = fn.eval(inner)
			switch kind {
			case kBool:
				acc = boolean(acc.truthy())
			case kNumber:
				acc = number(acc.toNumber())
			case kString:
				acc = str(acc.toString())
			}
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
