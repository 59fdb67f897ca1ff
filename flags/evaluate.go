package flags

import (
	"errors"
	"fmt"
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
	// FlagSet is the flag set the flag belongs to: "" for a document's
	// top-level flags.
	FlagSet string
}

// Set is a compiled, immutable set of flags. Evaluate through an
// Evaluator, which swaps Sets atomically as definitions change.
//
// A Set compiled from a document holds its top-level flags and its
// named flag sets (Definitions.Sets); Select gives the Set of the flags
// an Evaluator serves.
type Set struct {
	name  string // the flag set: "" for the top-level flags
	flags map[string]*compiled
	keys  []string // sorted
	defs  Definitions
	sets  map[string]*Set // a document's named flag sets
	parts map[string]*Set // a selection of several: the sets it serves
}

// Keys returns the flag keys, sorted.
func (s *Set) Keys() []string { return slices.Clone(s.keys) }

// Definitions returns a copy of the definitions the Set was compiled
// from. The Set of several selected flag sets has their flags, not
// their evaluators or metadata.
func (s *Set) Definitions() Definitions { return cloneDefinitions(s.defs) }

// FlagSets returns the names of the document's named flag sets, sorted.
func (s *Set) FlagSets() []string { return slices.Sorted(maps.Keys(s.sets)) }

// ErrDuplicateKey means two flag sets served together hold the same
// flag key.
var ErrDuplicateKey = errors.New("flags: one key in two served flag sets")

// Select returns the Set serving the named flag sets of s's document
// ("" names the top-level flags); with no names, the top-level flags
// and every named set. A key may be in several sets of a document, but
// not in two sets served together: that is ErrDuplicateKey, naming the
// key and both sets, and a name the document lacks is ErrNotFound, so
// that a typo never serves nothing quietly.
func (s *Set) Select(names ...string) (*Set, error) {
	if len(names) == 0 {
		if len(s.sets) == 0 {
			return s, nil
		}
		names = append([]string{""}, s.FlagSets()...)
	}
	parts := make([]*Set, 0, len(names))
	for _, name := range names {
		p := s.partOf(name)
		if p == nil {
			return nil, fmt.Errorf("%w: no flag set %q", ErrNotFound, name)
		}
		if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	out := &Set{flags: map[string]*compiled{}, parts: map[string]*Set{}, defs: Definitions{Flags: map[string]Flag{}}}
	for _, p := range parts {
		out.parts[p.name] = p
		for _, k := range p.keys {
			if other, dup := out.flags[k]; dup {
				return nil, fmt.Errorf("%w: flag %q is in set %q and in set %q", ErrDuplicateKey, k, other.set, p.name)
			}
			out.flags[k] = p.flags[k]
			out.defs.Flags[k] = p.defs.Flags[k]
		}
	}
	out.keys = slices.Sorted(maps.Keys(out.flags))
	return out, nil
}

// partOf returns the flag set name among those s holds, or nil.
func (s *Set) partOf(name string) *Set {
	switch {
	case s.parts != nil:
		return s.parts[name]
	case name == s.name:
		return s
	}
	return s.sets[name]
}

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
	d := Detail{Metadata: f.metadata, FlagSet: f.set}
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

// boxed is the value of any type, nil for the caller's default.
func (ev evaluation) boxed() (any, Detail) {
	if ev.index < 0 {
		return nil, ev.detail
	}
	return ev.flag.values[ev.index].boxed, ev.detail
}
