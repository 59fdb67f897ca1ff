package flags

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/murmur3"
	"golang.org/x/mod/semver"
)

// fractional is flagd's bucketing operator, its current (v2) algorithm:
//
//	{"fractional": [bucketBy?, [variant, weight?], [variant, weight?], ...]}
//
// bucketBy (optional) is a rule giving the string to hash; without it,
// or when it gives null, the flag key followed by the targeting key,
// and an empty targeting key, as a missing one, buckets nobody. The
// string's MurmurHash3 (x86, 32 bit, seed 0) picks a bucket in
// [0, total weight) as (hash * total) >> 32, and the bucket's entry wins.
// A weight defaults to 1, must be a whole number, and counts as 0 when
// negative; variants and weights may themselves be rules. The result is
// null (the default variant applies) when there is nothing to hash, when
// the weights sum to 0 or past 2^31-1, or when an entry is malformed.
func (c *compiler) fractional(list []any, path string) (node, error) {
	var (
		bucketBy *node
		catParts []node
		offset   int
	)
	if len(list) > 0 {
		if _, isList := list[0].([]any); !isList {
			n, err := c.compile(list[0], path+"/0")
			if err != nil {
				return node{}, err
			}
			// {"cat": [...]}, the usual way to bucket by something other
			// than the targeting key, is hashed from its parts without
			// building the string.
			if rule, ok := list[0].(map[string]any); ok && len(rule) == 1 {
				if parts, ok := rule["cat"].([]any); ok {
					if catParts, _, err = c.compileAll(parts, path+"/0/cat"); err != nil {
						return node{}, err
					}
				}
			}
			bucketBy, list, offset = &n, list[1:], 1
		}
	}
	entries := make([]bucket, len(list))
	allConst := true
	for i, raw := range list {
		pair, ok := raw.([]any)
		p := path + "/" + strconv.Itoa(i+offset)
		if !ok || len(pair) == 0 || len(pair) > 2 {
			return node{}, errorf(p, "a fractional entry is [variant] or [variant, weight]")
		}
		v, err := c.compile(pair[0], p+"/0")
		if err != nil {
			return node{}, err
		}
		w := constant(number(1))
		if len(pair) == 2 {
			if w, err = c.compile(pair[1], p+"/1"); err != nil {
				return node{}, err
			}
		}
		entries[i] = bucket{variant: v, weight: w}
		allConst = allConst && v.konst != nil && w.konst != nil
	}
	f := &fraction{bucketBy: bucketBy, catParts: catParts, entries: entries}
	if allConst {
		f.static = f.distribution(env{})
	}
	return node{eval: f.eval}, nil
}

type bucket struct {
	variant, weight node
}

// fraction is a compiled fractional operation.
type fraction struct {
	bucketBy *node
	catParts []node // bucketBy's parts when it is a cat
	entries  []bucket
	static   *split // the distribution, when every entry is a literal
}

// split is an evaluated distribution.
type split struct {
	variants []value
	weights  []uint64
	total    uint64
}

func (f *fraction) eval(e env) value {
	d := f.static
	if d == nil {
		if d = f.distribution(e); d == nil {
			return null
		}
	}
	if d.total == 0 {
		return null
	}
	var buf [128]byte
	key, ok := f.bucketKey(e, buf[:0])
	if !ok {
		return null
	}
	b := uint64(murmur3.Sum32(key)) * d.total >> 32
	var end uint64
	for i, w := range d.weights {
		end += w
		if b < end {
			return d.variants[i]
		}
	}
	return null
}

// bucketKey appends the string to hash to buf.
func (f *fraction) bucketKey(e env, buf []byte) ([]byte, bool) {
	if f.catParts != nil {
		for _, p := range f.catParts {
			buf = p.eval(e).appendString(buf)
		}
		return bytes.TrimSpace(buf), true // as cat trims
	}
	if f.bucketBy != nil {
		switch v := f.bucketBy.eval(e); v.kind {
		case kString:
			return append(buf, v.s...), true
		case kNull: // fall back to the targeting key
		default:
			return nil, false
		}
	}
	tk := lookupOr(e.ctx, []string{"targetingKey"}, null)
	if tk.kind != kString || tk.s == "" { // as flagd#1949: an empty key is no key
		return nil, false
	}
	buf = append(buf, e.flagKey...)
	return append(buf, tk.s...), true
}

// distribution evaluates the entries; nil when one is malformed.
func (f *fraction) distribution(e env) *split {
	d := &split{variants: make([]value, len(f.entries)), weights: make([]uint64, len(f.entries))}
	for i, en := range f.entries {
		v := en.variant.eval(e)
		switch v.kind {
		case kString, kBool, kNumber, kNull:
		default:
			return nil
		}
		w := en.weight.eval(e)
		weight := 1.0
		switch w.kind {
		case kNumber:
			weight = w.n
		case kNull:
		default:
			return nil
		}
		if weight != math.Trunc(weight) || weight > math.MaxInt32 {
			return nil
		}
		weight = max(weight, 0)
		d.variants[i], d.weights[i] = v, uint64(weight)
		d.total += uint64(weight)
	}
	if d.total > math.MaxInt32 {
		return nil
	}
	return d
}

// semVer is flagd's sem_ver: {"sem_ver": [version, operator, target]},
// operators = != < <= > >= and ^ (same major) ~ (same major and minor).
// Versions may carry one v or V prefix, may be partial (1, 1.2) and may
// be numbers; build metadata is ignored. Anything invalid gives null.
func semVer(args []node) node {
	return node{eval: func(e env) value {
		if len(args) != 3 {
			return null
		}
		op := args[1].eval(e)
		a, okA := semverOf(args[0].eval(e))
		b, okB := semverOf(args[2].eval(e))
		if op.kind != kString || !okA || !okB {
			return null
		}
		c := semver.Compare(a, b)
		switch op.s {
		case "=":
			return boolean(c == 0)
		case "!=":
			return boolean(c != 0)
		case "<":
			return boolean(c < 0)
		case "<=":
			return boolean(c <= 0)
		case ">":
			return boolean(c > 0)
		case ">=":
			return boolean(c >= 0)
		case "^":
			return boolean(semver.Major(a) == semver.Major(b))
		case "~":
			return boolean(semver.MajorMinor(a) == semver.MajorMinor(b))
		}
		return null
	}}
}

// semverOf returns v as the "v"-prefixed form golang.org/x/mod/semver
// accepts.
func semverOf(v value) (string, bool) {
	var s string
	switch v.kind {
	case kString:
		s = v.s
	case kNumber:
		s = v.toString()
	default:
		return "", false
	}
	if strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V") {
		s = s[1:] // one prefix, as flagd strips: "vV1.0.0" is invalid
	}
	s = "v" + s
	return s, semver.IsValid(s)
}
