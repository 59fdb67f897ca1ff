package flags

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// kind is the JSON type of a value.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray  // v holds []any or []value
	kObject // v holds map[string]any
)

// value is a JSON value during rule evaluation. It is passed by value,
// so evaluating a rule over strings, numbers and booleans allocates
// nothing.
type value struct {
	kind kind
	b    bool
	n    float64
	s    string
	v    any // array or object
}

var null = value{}

func boolean(b bool) value    { return value{kind: kBool, b: b} }
func number(n float64) value  { return value{kind: kNumber, n: n} }
func str(s string) value      { return value{kind: kString, s: s} }
func array(items []any) value { return value{kind: kArray, v: items} }

// fromAny converts a context or literal value. Go integer and float types
// are numbers, as OpenFeature contexts carry them.
func fromAny(x any) value {
	switch t := x.(type) {
	case nil:
		return null
	case string:
		return str(t)
	case bool:
		return boolean(t)
	case float64:
		return number(t)
	case int:
		return number(float64(t))
	case int64:
		return number(float64(t))
	case int32:
		return number(float64(t))
	case float32:
		return number(float64(t))
	case uint:
		return number(float64(t))
	case uint64:
		return number(float64(t))
	case uint32:
		return number(float64(t))
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return str(string(t))
		}
		return number(f)
	case []any:
		return array(t)
	case map[string]any:
		return value{kind: kObject, v: t}
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		items := make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
		return array(items)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return value{kind: kObject, v: m}
		}
	case reflect.String:
		return str(rv.String())
	case reflect.Bool:
		return boolean(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return number(float64(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return number(float64(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return number(rv.Float())
	}
	return null
}

// toAny converts back, for arrays and results handed to callers.
func (v value) toAny() any {
	switch v.kind {
	case kBool:
		return v.b
	case kNumber:
		return v.n
	case kString:
		return v.s
	case kArray, kObject:
		return v.v
	}
	return nil
}

// items returns an array's elements.
func (v value) items() []any {
	if v.kind != kArray {
		return nil
	}
	items, _ := v.v.([]any)
	return items
}

// truthy is JsonLogic truthiness as flagd's engine applies it: false,
// null, 0, "" and empty arrays and objects are false. Unlike JavaScript,
// NaN is true.
func (v value) truthy() bool {
	switch v.kind {
	case kBool:
		return v.b
	case kNumber:
		return v.n != 0
	case kString:
		return v.s != ""
	case kArray:
		return len(v.items()) > 0
	case kObject:
		m, _ := v.v.(map[string]any)
		return len(m) > 0
	}
	return false
}

// toNumber converts for arithmetic, equality and in, as flagd's engine
// does: a string parses as a Go float, and one that does not parse is 0
// ("abc" + 1 is 1), one too large is ±Inf. Booleans are 0 or 1 and null
// is 0 (flagd's engine fails on both), anything else NaN.
func (v value) toNumber() float64 {
	switch v.kind {
	case kNumber:
		return v.n
	case kBool:
		if v.b {
			return 1
		}
		return 0
	case kNull:
		return 0
	case kString:
		f, _ := strconv.ParseFloat(v.s, 64)
		return f
	}
	return math.NaN()
}

// toOrderable converts for <, <=, > and >=, as flagd's engine does:
// null is 0, booleans are 0 or 1, and a string that does not parse
// (including "") is NaN, so that every comparison with it is false.
func (v value) toOrderable() float64 {
	if v.kind == kString {
		f, err := strconv.ParseFloat(v.s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return v.toNumber()
}

// formatNumber writes n as JavaScript and JSON print it: 1, 1.5, 1e+21.
func formatNumber(buf []byte, n float64) []byte {
	if n == math.Trunc(n) && math.Abs(n) < 1e21 {
		return strconv.AppendFloat(buf, n, 'f', -1, 64)
	}
	return strconv.AppendFloat(buf, n, 'g', -1, 64)
}

// appendString appends v as flagd's engine prints it in cat, substr and
// var paths: numbers in plain decimal (1e21 is 1000000000000000000000).
func (v value) appendString(buf []byte) []byte {
	switch v.kind {
	case kString:
		return append(buf, v.s...)
	case kNumber:
		return strconv.AppendFloat(buf, v.n, 'f', -1, 64)
	case kBool:
		return strconv.AppendBool(buf, v.b)
	case kNull:
		return buf
	}
	b, err := json.Marshal(v.v)
	if err != nil {
		return buf
	}
	return append(buf, b...)
}

// toString returns v as a string; strings themselves do not allocate.
func (v value) toString() string {
	if v.kind == kString {
		return v.s
	}
	var buf [32]byte
	return string(v.appendString(buf[:0]))
}

// looseEqual is flagd's ==. It is not JavaScript's: a boolean equals
// only a boolean (true == 1 is false), a number on the left parses a
// string on the right (1 == "1.0", and 0 == "abc" since "abc" is 0), and
// a string on the left compares with the right side's printed form
// ("1.0" == 1 is false). Arrays and objects, which flagd's engine cannot
// compare, are equal to equal arrays and objects, or compare by their
// JSON form.
func looseEqual(a, b value) bool {
	switch {
	case a.kind == kNull || b.kind == kNull:
		return a.kind == b.kind
	case a.kind == kBool || b.kind == kBool:
		return a.kind == b.kind && a.b == b.b
	case a.kind == b.kind:
		return strictEqual(a, b)
	case a.kind == kNumber && b.kind == kString:
		return a.n == b.toNumber()
	case a.kind == kString && b.kind == kNumber:
		return a.s == b.toString()
	case a.kind == kArray || a.kind == kObject:
		return looseEqual(str(a.toString()), b)
	}
	return looseEqual(a, str(b.toString()))
}

// strictEqual is JavaScript's ===; arrays and objects are equal only when
// they are the same, which for JSON data means equal contents.
func strictEqual(a, b value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kNull:
		return true
	case kBool:
		return a.b == b.b
	case kNumber:
		return a.n == b.n
	case kString:
		return a.s == b.s
	}
	return reflect.DeepEqual(a.v, b.v)
}

// less is flagd's a < b: two strings compare as strings, anything else
// as numbers (see toOrderable); NaN on either side makes it false.
func less(a, b value) bool {
	if a.kind == kString && b.kind == kString {
		return a.s < b.s
	}
	return a.toOrderable() < b.toOrderable()
}
