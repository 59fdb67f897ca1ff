package flags

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure an Evaluator.
type Options struct {
	// Now is the clock behind $flagd.timestamp, which progressive
	// rollouts step on. Default time.Now.
	Now func() time.Time
	// Sets names the flag sets served ("" names a document's top-level
	// flags). Default: the top-level flags and every named set. Two
	// served sets must not share a key (see Set.Select).
	Sets []string
}

// Evaluator evaluates flags against the current Set, which Update and
// the admin operations replace atomically: evaluations never lock and
// never see half an update.
type Evaluator struct {
	set  atomic.Pointer[Set] // the flags served: the selection of sets
	now  func() time.Time
	sets []string

	mu        sync.Mutex // serialises writers
	full      *Set       // the whole document, which Edit changes
	listeners []func(changed []string)
}

// NewEvaluator returns an Evaluator serving set (nil: no flags yet). A
// set without the flag sets of Options.Sets, or whose served sets share
// a key, serves no flags: Replace and Sync report why.
func NewEvaluator(set *Set, opts Options) *Evaluator {
	if set == nil {
		set = emptySet()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Evaluator{now: opts.Now, sets: slices.Clone(opts.Sets), full: set}
	served, err := set.Select(e.sets...)
	if err != nil {
		served = emptySet()
	}
	e.set.Store(served)
	return e
}

func emptySet() *Set { return &Set{flags: map[string]*compiled{}} }

// Current returns the Set being served: the flags of the served sets.
func (e *Evaluator) Current() *Set { return e.set.Load() }

// OnChange registers fn to hear the keys of flags that each update
// added, removed or changed.
func (e *Evaluator) OnChange(fn func(changed []string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listeners = append(e.listeners, fn)
}

// Update serves set from now on and returns the keys that changed. A
// set that cannot be served (see Replace) changes nothing.
func (e *Evaluator) Update(set *Set) []string {
	changed, _ := e.Replace(set)
	return changed
}

// Replace serves set's flag sets (Options.Sets) from now on and returns
// the keys that changed, or, when set lacks a served flag set or two
// served sets share a key, the error, and the definitions being served
// stay.
func (e *Evaluator) Replace(set *Set) ([]string, error) {
	if set == nil {
		return nil, nil
	}
	served, err := set.Select(e.sets...)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.full = set
	old := e.set.Swap(served)
	changed := changedKeys(old, served)
	listeners := e.listeners
	e.mu.Unlock()
	if len(changed) > 0 {
		for _, fn := range listeners {
			fn(changed)
		}
	}
	return changed, nil
}

// ErrNotFound means no flag has that key.
var ErrNotFound = errors.New("flags: flag not found")

// Edit applies change to a copy of the current definitions, compiles
// them and serves the result. A change that leaves the definitions
// invalid is refused and nothing changes. Admin operations are built on
// Edit; with a durable store, edit the store instead so that every
// process sees the change.
func (e *Evaluator) Edit(change func(*Definitions) error) error {
	e.mu.Lock()
	defs := e.full.Definitions()
	if defs.Flags == nil {
		defs.Flags = map[string]Flag{}
	}
	if err := change(&defs); err != nil {
		e.mu.Unlock()
		return err
	}
	set, err := Compile(defs)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	served, err := set.Select(e.sets...)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	e.full = set
	old := e.set.Swap(served)
	changed := changedKeys(old, served)
	listeners := e.listeners
	e.mu.Unlock()
	for _, fn := range listeners {
		fn(changed)
	}
	return nil
}

// SetState turns a flag on or off: Disabled is the kill switch, served
// from the next evaluation on.
func (e *Evaluator) SetState(key string, state State) error {
	return e.Edit(func(d *Definitions) error { return d.SetState(key, state) })
}

// changedKeys lists the flags that differ between two Sets. A change to
// a set's shared evaluators or metadata counts as a change to every flag
// of the set with targeting.
func changedKeys(old, cur *Set) []string {
	var out []string
	shared := map[string]bool{}
	for _, k := range cur.keys {
		nf, of := cur.flags[k], old.flags[k]
		if of == nil || of.set != nf.set {
			out = append(out, k)
			continue
		}
		op, np := old.partOf(of.set), cur.partOf(nf.set)
		changed, seen := shared[nf.set]
		if !seen {
			changed = !reflect.DeepEqual(op.defs.Evaluators, np.defs.Evaluators) ||
				!reflect.DeepEqual(op.defs.Metadata, np.defs.Metadata)
			shared[nf.set] = changed
		}
		now := np.defs.Flags[k]
		if !reflect.DeepEqual(op.defs.Flags[k], now) || changed && (now.Targeting != nil || np.defs.Metadata != nil) {
			out = append(out, k)
		}
	}
	for _, k := range old.keys {
		if _, ok := cur.flags[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// Bool evaluates a boolean flag; def is served on any error.
func (e *Evaluator) Bool(key string, ctx map[string]any, def bool) (bool, Detail) {
	v, d, ok := e.set.Load().evaluate(key, ctx, e.now).typed(kindBool)
	if !ok {
		return def, d
	}
	return v.b, d
}

// String evaluates a string flag.
func (e *Evaluator) String(key string, ctx map[string]any, def string) (string, Detail) {
	v, d, ok := e.set.Load().evaluate(key, ctx, e.now).typed(kindString)
	if !ok {
		return def, d
	}
	return v.s, d
}

// Float evaluates a number flag.
func (e *Evaluator) Float(key string, ctx map[string]any, def float64) (float64, Detail) {
	v, d, ok := e.set.Load().evaluate(key, ctx, e.now).typed(kindNumber)
	if !ok {
		return def, d
	}
	return v.n, d
}

// Int evaluates a number flag, truncating toward zero as flagd does.
func (e *Evaluator) Int(key string, ctx map[string]any, def int64) (int64, Detail) {
	v, d, ok := e.set.Load().evaluate(key, ctx, e.now).typed(kindNumber)
	if !ok {
		return def, d
	}
	return int64(v.n), d
}

// Object evaluates an object flag. The value is shared: do not modify it.
func (e *Evaluator) Object(key string, ctx map[string]any, def any) (any, Detail) {
	v, d, ok := e.set.Load().evaluate(key, ctx, e.now).typed(kindObject)
	if !ok {
		return def, d
	}
	return v.v, d
}

// Evaluate evaluates a flag of any type: the value is a bool, string,
// float64, or (shared: do not modify it) a map[string]any or []any,
// and nil when the caller's default applies (Detail says why). It
// allocates nothing.
func (e *Evaluator) Evaluate(key string, ctx map[string]any) (any, Detail) {
	return e.set.Load().evaluate(key, ctx, e.now).boxed()
}

// Evaluation is one flag's outcome in EvaluateAll.
type Evaluation struct {
	Key   string
	Value any // as Evaluate returns it: nil for the caller's default
	Detail
}

// EvaluateAll evaluates every flag served, in key order, against one
// version of the definitions, appending to out: pass the slice of the
// previous call, truncated, to evaluate without allocating.
func (e *Evaluator) EvaluateAll(ctx map[string]any, out []Evaluation) []Evaluation {
	set := e.set.Load()
	for _, k := range set.keys {
		v, d := set.evaluate(k, ctx, e.now).boxed()
		out = append(out, Evaluation{Key: k, Value: v, Detail: d})
	}
	return out
}
