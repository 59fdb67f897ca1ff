package flags

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// Reason says why an evaluation gave its value; String gives
// OpenFeature's name for it.
type Reason uint8

// Reasons.
const (
	ReasonStatic         Reason = iota + 1 // the default variant, no targeting
	ReasonTargetingMatch                   // targeting chose the variant
	ReasonDefault                          // targeting gave null, or no default variant: the default
	ReasonDisabled                         // the flag is off: the caller's default
	ReasonError                            // see the error code: the caller's default
)

var reasonNames = [...]string{"", "STATIC", "TARGETING_MATCH", "DEFAULT", "DISABLED", "ERROR"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "UNKNOWN"
}

// ErrorCode says what went wrong; String gives OpenFeature's name.
type ErrorCode uint8

// Error codes; zero is no error.
const (
	FlagNotFound ErrorCode = iota + 1
	TypeMismatch
	ParseError
	General
)

var errorCodeNames = [...]string{"", "FLAG_NOT_FOUND", "TYPE_MISMATCH", "PARSE_ERROR", "GENERAL"}

func (c ErrorCode) String() string {
	if int(c) < len(errorCodeNames) {
		return errorCodeNames[c]
	}
	return "GENERAL"
}

// Detail describes an evaluation. Metadata is the flag's, shared: do
// not modify it.
type Detail struct {
	Variant      string // "" when the caller's default was served
	Reason       Reason
	ErrorCode    ErrorCode // zero when there was no error
	ErrorMessage string
	Metadata     map[string]any
}

// Set is a compiled, immutable set of flags. Evaluate through an
// Evaluator, which swaps Sets atomically as definitions change.
type Set struct {
	flags map[string]*compiled
	defs  Definitions
}

// Keys returns the flag keys, sorted.
func (s *Set) Keys() []string { return slices.Sorted(maps.Keys(s.flags)) }

// Definitions returns a copy of the definitions the Set was compiled
// from.
func (s *Set) Definitions() Definitions { return cloneDefinitions(s.defs) }

// evaluation is the outcome before typing: the variant index, or -1 for
// the caller's default.
type evaluation struct {
	flag   *compiled
	index  int
	detail Detail
}

// evaluate runs the flag's targeting on ctx. now is read only by rules
// that use $flagd.timestamp.
func (s *Set) evaluate(key string, ctx map[string]any, now func() time.Time) evaluation {
	f := s.flags[key]
	if f == nil {
		return evaluation{index: -1, detail: Detail{Reason: ReasonError, ErrorCode: FlagNotFound, ErrorMessage: "flag not found"}}
	}
	d := Detail{Metadata: f.metadata}
	switch {
	case f.broken != nil:
		d.Reason, d.ErrorCode, d.ErrorMessage = ReasonError, ParseError, f.broken.Error()
		return evaluation{f, -1, d}
	case f.state == Disabled:
		d.Reason = ReasonDisabled
		return evaluation{f, -1, d}
	}
	for _, p := range f.prereqs {
		if pe := s.evaluate(p.flag.key, ctx, now); pe.index < 0 || pe.flag.values[pe.index].name != p.variant {
			return f.defaultVariant(ReasonDefault, d)
		}
	}
	if f.rule == nil {
		return f.defaultVariant(ReasonStatic, d)
	}
	e := env{data: value{kind: kObject, v: ctx}, ctx: value{kind: kObject, v: ctx}, flagKey: key}
	if f.timestamp {
		e.now = now().Unix()
	}
	result := f.rule.eval(e)
	var name string
	switch result.kind {
	case kNull:
		return f.defaultVariant(ReasonDefault, d)
	case kString:
		name = result.s
	case kBool:
		name = strconv.FormatBool(result.b)
	case kNumber:
		var buf [32]byte
		if i, ok := f.names[string(formatNumber(buf[:0], result.n))]; ok {
			d.Variant, d.Reason = f.values[i].name, ReasonTargetingMatch
			return evaluation{f, i, d}
		}
		name = result.toString()
	default:
		name = result.toString()
	}
	i, ok := f.names[name]
	if !ok {
		d.Reason, d.ErrorCode = ReasonError, General // as flagd since flagd#1680
		d.ErrorMessage = "targeting returned " + strconv.Quote(name) + ", which is not a variant of the flag"
		return evaluation{f, -1, d}
	}
	d.Variant, d.Reason = name, ReasonTargetingMatch
	return evaluation{f, i, d}
}

// defaultVariant serves the default variant with reason, or the caller's
// default (reason DEFAULT) when the flag has none.
func (f *compiled) defaultVariant(reason Reason, d Detail) evaluation {
	if f.defaultIdx < 0 {
		d.Reason = ReasonDefault
		return evaluation{f, -1, d}
	}
	d.Variant, d.Reason = f.values[f.defaultIdx].name, reason
	return evaluation{f, f.defaultIdx, d}
}

// typed checks the flag's type; on a mismatch the caller's default is
// served with TYPE_MISMATCH.
func (ev evaluation) typed(want variantKind) (value, Detail, bool) {
	if ev.index < 0 {
		return null, ev.detail, false
	}
	if ev.flag.kind != want {
		d := ev.detail
		d.Variant, d.Reason, d.ErrorCode = "", ReasonError, TypeMismatch
		d.ErrorMessage = "flag " + strconv.Quote(ev.flag.key) + " is " + ev.flag.kind.String() + ", not " + want.String()
		return null, d, false
	}
	return ev.flag.values[ev.index].v, ev.detail, true
}
