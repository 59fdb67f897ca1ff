package flags

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure an Evaluator.
type Options struct {
	// Now is the clock behind $flagd.timestamp, which progressive
	// rollouts step on. Default time.Now.
	Now func() time.Time
}

// Evaluator evaluates flags against the current Set, which Update and
// the admin operations replace atomically: evaluations never lock and
// never see half an update.
type Evaluator struct {
	set atomic.Pointer[Set]
	now func() time.Time

	mu        sync.Mutex // serialises writers
	listeners []func(changed []string)
}

// NewEvaluator returns an Evaluator serving set (nil: no flags yet).
func NewEvaluator(set *Set, opts Options) *Evaluator {
	if set == nil {
		set = &Set{flags: map[string]*compiled{}}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Evaluator{now: opts.Now}
	e.set.Store(set)
	return e
}

// Current returns the Set being served.
func (e *Evaluator) Current() *Set { return e.set.Load() }

// OnChange registers fn to hear the keys of flags that each update
// added, removed or changed.
func (e *Evaluator) OnChange(fn func(changed []string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listeners = append(e.listeners, fn)
}

// Update serves set from now on and returns the keys that changed.
func (e *Evaluator) Update(set *Set) []string {
	if set == nil {
		return nil
	}
	e.mu.Lock()
	old := e.set.Swap(set)
	changed := changedKeys(old, set)
	listeners := e.listeners
	e.mu.Unlock()
	if len(changed) > 0 {
		for _, fn := range listeners {
			fn(changed)
		}
	}
	return changed
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
	defs := e.set.Load().Definitions()
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
	old := e.set.Swap(set)
	changed := changedKeys(old, set)
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
// the shared evaluators counts as a change to every flag with targeting.
func changedKeys(old, cur *Set) []string {
	var out []string
	evaluatorsChanged := !reflect.DeepEqual(old.defs.Evaluators, cur.defs.Evaluators) ||
		!reflect.DeepEqual(old.defs.Metadata, cur.defs.Metadata)
	for _, k := range cur.Keys() {
		was, ok := old.defs.Flags[k]
		now := cur.defs.Flags[k]
		if !ok || !reflect.DeepEqual(was, now) || evaluatorsChanged && (now.Targeting != nil || cur.defs.Metadata != nil) {
			out = append(out, k)
		}
	}
	for _, k := range old.Keys() {
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
