package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// State says whether a flag is on: a DISABLED flag evaluates to the
// caller's default with reason DISABLED (the kill switch).
type State string

// States of a flag.
const (
	Enabled  State = "ENABLED"
	Disabled State = "DISABLED"
)

// Flag is one flag in flagd's flag-definition format.
type Flag struct {
	State State `json:"state"`
	// Variants maps names to values, all of one type: booleans, strings,
	// numbers or JSON objects.
	Variants map[string]any `json:"variants"`
	// DefaultVariant is served when targeting gives null or there is no
	// targeting; "" means none, and the caller's default is served.
	DefaultVariant string `json:"defaultVariant,omitempty"`
	// Targeting is a JsonLogic rule that returns a variant name; nil for
	// none.
	Targeting any `json:"targeting,omitempty"`
	// Metadata is returned with every evaluation of the flag.
	Metadata map[string]any `json:"metadata,omitempty"`
	// Prerequisites must all hold for the targeting to apply; otherwise
	// the default variant is served (reason DEFAULT). A saaskit
	// extension: flagd ignores the field.
	Prerequisites []Prerequisite `json:"prerequisites,omitempty"`
}

// Prerequisite holds while flag Flag evaluates to Variant for the same
// context.
type Prerequisite struct {
	Flag    string `json:"flag"`
	Variant string `json:"variant"`
}

// Definitions is a flag-definition document: flagd's format, readable by
// every flagd provider.
type Definitions struct {
	Flags map[string]Flag `json:"flags"`
	// Evaluators are shared rules that targeting includes with
	// {"$ref": "name"}; saaskit's rings are evaluators.
	Evaluators map[string]any `json:"$evaluators,omitempty"`
	// Metadata applies to every flag; a flag's own metadata wins.
	Metadata map[string]any `json:"metadata,omitempty"`
	// Sets are named flag sets (flagd's flag sets: "frontend",
	// "backend"), each a document of its own flags, evaluators and
	// metadata; they do not nest. The same key may be in several sets;
	// an Evaluator serves the sets of Options.Sets, and refuses two
	// served sets that share a key. Each flag of a named set reports its
	// set as metadata flagSetId, as flagd does. A saaskit extension:
	// flagd reads the top-level flags.
	Sets map[string]Definitions `json:"sets,omitempty"`
}

// DefinitionError is an invalid flag: its key, the JSON Pointer of the
// offending part (/flags/<key>/targeting/if/0, ...) and what is wrong.
type DefinitionError struct {
	Flag string
	Path string
	Msg  string
}

func (e *DefinitionError) Error() string {
	return fmt.Sprintf("flag %q: %s: %s", e.Flag, e.Path, e.Msg)
}

// ErrInvalidDefinitions wraps every error Parse and Compile return.
var ErrInvalidDefinitions = errors.New("flags: invalid definitions")

// maxDefinitionSize bounds a definitions document.
const maxDefinitionSize = 16 << 20

// Parse reads a flagd flag-definition document and compiles it.
//
// A document that is not valid JSON, or not shaped as definitions,
// gives a nil Set. Otherwise Parse returns the Set even when some flags
// are invalid, with an error listing each of them (as *DefinitionError,
// through errors.As on the joined error): as in flagd, an invalid flag
// then evaluates with error code PARSE_ERROR while the others work.
// Sources never serve such a Set: a bad update keeps the last good one.
func Parse(data []byte) (*Set, error) {
	if len(data) > maxDefinitionSize {
		return nil, fmt.Errorf("%w: document is %d bytes, the limit is %d", ErrInvalidDefinitions, len(data), maxDefinitionSize)
	}
	var d Definitions
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidDefinitions, describeJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the document", ErrInvalidDefinitions)
	}
	if d.Flags == nil {
		return nil, fmt.Errorf("%w: no \"flags\" object", ErrInvalidDefinitions)
	}
	return Compile(d)
}

// describeJSONError names where a JSON error is.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("line %d: %v", line, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("/%s: %s where %s belongs", strings.ReplaceAll(typ.Field, ".", "/"), typ.Value, typ.Type)
	}
	return err.Error()
}

// Compile checks and compiles definitions, with Parse's rules.
func Compile(d Definitions) (*Set, error) {
	d = cloneDefinitions(d)
	s, errs := compileSet(d, "")
	for _, name := range slices.Sorted(maps.Keys(d.Sets)) {
		sd := d.Sets[name]
		at := "/sets/" + pointer(name)
		switch {
		case name == "":
			errs = append(errs, &DefinitionError{Path: at, Msg: "a flag set needs a name"})
			continue
		case len(sd.Sets) > 0:
			errs = append(errs, &DefinitionError{Path: at + "/sets", Msg: "flag sets do not nest"})
			continue
		case sd.Flags == nil:
			sd.Flags = map[string]Flag{}
		}
		sub, subErrs := compileSet(sd, name)
		errs = append(errs, subErrs...)
		if s.sets == nil {
			s.sets = map[string]*Set{}
		}
		s.sets[name] = sub
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%w: %w", ErrInvalidDefinitions, errors.Join(errs...))
	}
	return s, nil
}

// compileSet compiles the flags of one flag set (name "" for the
// top-level flags), against the set's own evaluators and metadata.
func compileSet(d Definitions, name string) (*Set, []error) {
	c := &compiler{evaluators: d.Evaluators}
	s := &Set{name: name, flags: make(map[string]*compiled, len(d.Flags)), defs: d}
	meta := d.Metadata
	if name != "" {
		meta = maps.Clone(meta)
		if meta == nil {
			meta = map[string]any{}
		}
		if _, ok := meta[FlagSetIDKey]; !ok {
			meta[FlagSetIDKey] = name
		}
	}
	var errs []error
	s.keys = slices.Sorted(maps.Keys(d.Flags))
	for _, key := range s.keys {
		f, err := compileFlag(c, key, d.Flags[key], meta)
		if err != nil {
			errs = append(errs, err)
		}
		f.set = name
		s.flags[key] = f
	}
	errs = append(errs, linkPrerequisites(s, d)...)
	if name != "" {
		for _, err := range errs {
			var de *DefinitionError
			if errors.As(err, &de) {
				de.Path = "/sets/" + pointer(name) + de.Path
			}
		}
	}
	return s, errs
}

// FlagSetIDKey is the metadata key naming a flag's set, as in flagd.
const FlagSetIDKey = "flagSetId"

// variantKind is the type shared by a flag's variants.
type variantKind uint8

const (
	kindBool variantKind = iota + 1
	kindString
	kindNumber
	kindObject
)

func (k variantKind) String() string {
	return [...]string{"", "boolean", "string", "number", "object"}[k]
}

// compiled is a flag ready to evaluate.
type compiled struct {
	key        string
	state      State
	kind       variantKind
	names      map[string]int // variant name -> index in values
	values     []variant
	defaultIdx int   // -1: no default variant
	rule       *node // nil: no targeting
	timestamp  bool  // the rule reads $flagd.timestamp
	metadata   map[string]any
	prereqs    []prereq
	broken     *DefinitionError // evaluates to PARSE_ERROR
	set        string           // the flag set: "" for top-level flags
}

type prereq struct {
	flag    *compiled
	variant string
}

// linkPrerequisites resolves prerequisites to compiled flags and refuses
// unknown flags or variants and cycles; a flag with a bad prerequisite
// is broken.
func linkPrerequisites(s *Set, d Definitions) []error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(d.Flags)) {
		f := s.flags[key]
		for i, p := range d.Flags[key].Prerequisites {
			path := fmt.Sprintf("/flags/%s/prerequisites/%d", pointer(key), i)
			target := s.flags[p.Flag]
			var msg string
			if target == nil {
				msg = fmt.Sprintf("prerequisite flag %q does not exist", p.Flag)
			} else if _, ok := target.names[p.Variant]; !ok {
				msg = fmt.Sprintf("flag %q has no variant %q", p.Flag, p.Variant)
			}
			if msg != "" {
				if f.broken == nil {
					f.broken = &DefinitionError{Flag: key, Path: path, Msg: msg}
					errs = append(errs, f.broken)
				}
				continue
			}
			f.prereqs = append(f.prereqs, prereq{flag: target, variant: p.Variant})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(s.flags)) {
		if cycle := prereqCycle(s.flags[key], nil); cycle != nil {
			f := s.flags[key]
			if f.broken == nil {
				f.broken = &DefinitionError{Flag: key, Path: "/flags/" + pointer(key) + "/prerequisites",
					Msg: "prerequisites form a cycle: " + strings.Join(cycle, " -> ")}
				errs = append(errs, f.broken)
			}
		}
	}
	return errs
}

// prereqCycle returns a cycle through f's prerequisites, if any.
func prereqCycle(f *compiled, path []string) []string {
	if slices.Contains(path, f.key) {
		return append(path, f.key)
	}
	path = append(path, f.key)
	for _, p := range f.prereqs {
		if c := prereqCycle(p.flag, path); c != nil {
			return c
		}
	}
	return nil
}

type variant struct {
	name  string
	v     value
	boxed any // v as Evaluate returns it, boxed once
}

func compileFlag(c *compiler, key string, f Flag, setMetadata map[string]any) (*compiled, error) {
	path := "/flags/" + pointer(key)
	out := &compiled{key: key, state: f.State, defaultIdx: -1, names: map[string]int{}, metadata: mergeMetadata(setMetadata, f.Metadata)}
	fail := func(at, format string, args ...any) (*compiled, error) {
		out.broken = &DefinitionError{Flag: key, Path: at, Msg: fmt.Sprintf(format, args...)}
		return out, out.broken
	}
	switch {
	case key == "":
		return fail(path, "a flag key must not be empty")
	case f.State != Enabled && f.State != Disabled:
		return fail(path+"/state", "state must be ENABLED or DISABLED, not %q", f.State)
	case len(f.Variants) == 0:
		return fail(path+"/variants", "a flag needs at least one variant")
	}
	for _, name := range slices.Sorted(maps.Keys(f.Variants)) {
		raw := f.Variants[name]
		k, v, ok := variantOf(raw)
		if !ok {
			return fail(path+"/variants/"+pointer(name), "a variant is a boolean, string, number or object, not %T", raw)
		}
		if out.kind != 0 && k != out.kind {
			return fail(path+"/variants/"+pointer(name), "variant is a %s, but the flag's other variants are %ss", k, out.kind)
		}
		out.kind = k
		out.names[name] = len(out.values)
		out.values = append(out.values, variant{name: name, v: v, boxed: v.toAny()})
	}
	if f.DefaultVariant != "" {
		i, ok := out.names[f.DefaultVariant]
		if !ok {
			return fail(path+"/defaultVariant", "default variant %q is not one of the variants", f.DefaultVariant)
		}
		out.defaultIdx = i
	}
	if f.Targeting != nil {
		if m, ok := f.Targeting.(map[string]any); ok && len(m) == 0 {
			return out, nil // {} is no targeting, as in flagd
		}
		c.timestamp = false
		n, err := c.compile(f.Targeting, path+"/targeting")
		if err != nil {
			var re *ruleError
			if errors.As(err, &re) {
				return fail(re.path, "%s", re.msg)
			}
			return fail(path+"/targeting", "%v", err)
		}
		out.rule, out.timestamp = &n, c.timestamp
	}
	return out, nil
}

// variantOf classifies a variant value.
func variantOf(raw any) (variantKind, value, bool) {
	switch t := raw.(type) {
	case bool:
		return kindBool, boolean(t), true
	case string:
		return kindString, str(t), true
	case map[string]any:
		return kindObject, value{kind: kObject, v: t}, true
	case []any:
		return kindObject, array(t), true
	}
	v := fromAny(raw)
	if v.kind == kNumber && !math.IsNaN(v.n) && !math.IsInf(v.n, 0) {
		return kindNumber, v, true
	}
	return 0, null, false
}

func mergeMetadata(set, flag map[string]any) map[string]any {
	if len(set) == 0 && len(flag) == 0 {
		return nil
	}
	out := maps.Clone(set)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range flag {
		if v != nil {
			out[k] = v
		}
	}
	// JSON has one number type; OpenFeature reads metadata integers as
	// Go integers, so whole numbers become int64.
	for k, v := range out {
		if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			out[k] = int64(f)
		}
	}
	return out
}

// cloneDefinitions copies d deeply enough that callers' later changes to
// their maps do not reach a Set.
func cloneDefinitions(d Definitions) Definitions {
	b, err := json.Marshal(d)
	if err != nil {
		return d
	}
	var out Definitions
	if err := json.Unmarshal(b, &out); err != nil {
		return d
	}
	return out
}
