package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// A guarded rollout raises a rollout flag's percentage step by step, and
// only while its guards hold: each guard reads a metric of the flag's
// "on" variant (and, to compare, of "off") since the step began, such
// as an error ratio or a latency. A failing guard rolls the flag back
// to the last percentage that held, or pauses it, at once. The
// rollout's progress lives in the flag's own metadata (the rollout*
// keys), so it is stored and shared wherever the definitions are (a
// flags/sqlstore database: every replica sees it, a restart resumes
// it), and it is shown with every evaluation.

// Metadata keys of a guarded rollout's progress.
const (
	RolloutStatusKey   = "rolloutStatus"   // RolloutProgressing, RolloutPaused, ...
	RolloutStepKey     = "rolloutStep"     // index of the current GuardedStep
	RolloutSinceKey    = "rolloutSince"    // Unix seconds the current step began
	RolloutLastGoodKey = "rolloutLastGood" // the last percentage whose guards held
	RolloutReasonKey   = "rolloutReason"   // why the rollout stands as it does
)

// Guarded rollout statuses.
const (
	RolloutProgressing = "progressing"
	RolloutPaused      = "paused"      // a guard failed (GuardPause), or an operator paused it
	RolloutRolledBack  = "rolled-back" // a guard failed: back at the last good percentage
	RolloutComplete    = "complete"    // the last step held for its time
)

// GuardAction is what a failing guard does.
type GuardAction int

const (
	// GuardRollback sets the flag back to the last percentage whose
	// guards held and stops the rollout.
	GuardRollback GuardAction = iota
	// GuardPause keeps the percentage and stops the rollout.
	GuardPause
)

// GuardedRollout is a flag made by RolloutFlag, raised through Steps
// while its Guards hold.
type GuardedRollout struct {
	Flag   string
	Steps  []GuardedStep // percentages rising to at most 100
	Guards []Guard
	OnFail GuardAction
}

// GuardedStep is a percentage that must hold for Hold before the next.
type GuardedStep struct {
	Percent int
	Hold    time.Duration
}

// Measure is a metric of one variant over a time: its value and the
// number of samples it is made of (requests, evaluations).
type Measure struct {
	Value   float64
	Samples int64
}

// Guard judges one metric. It fails when the "on" variant's value is
// over Max, or over the "off" variant's by more than MaxIncrease (0.2:
// 20% worse), once it has MinSamples samples; before, it neither fails
// nor lets the rollout go on.
type Guard struct {
	Name string
	// Read returns the metric of the flag's variant since a time: from
	// an Outcomes, an OpenTelemetry metric recorded with the variant as
	// an attribute, an SLO's burn rate, or anything else. An error holds
	// the rollout where it is: a guard that cannot see does not pass.
	Read        func(ctx context.Context, flag, variant string, since time.Time) (Measure, error)
	Max         float64 // 0: not checked
	MaxIncrease float64 // 0: not checked
	MinSamples  int64
}

// Editor changes flag definitions, recording who did and why:
// flags/sqlstore's Store (shared and audited), or InMemory.
type Editor interface {
	// Edit applies change to the definitions as actor, recording
	// action.
	Edit(ctx context.Context, actor, action string, change func(*Definitions) error) error
}

// InMemory is an Editor of an Evaluator's own definitions, which no
// other process sees and a restart forgets.
type InMemory struct{ Evaluator *Evaluator }

// Edit implements Editor.
func (m InMemory) Edit(_ context.Context, _, _ string, change func(*Definitions) error) error {
	return m.Evaluator.Edit(change)
}

// GuardianOptions configure a Guardian.
type GuardianOptions struct {
	// Actor names the Guardian in the audit trail; default "guardian".
	Actor  string
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// Guardian runs guarded rollouts: Check judges each once; Run checks
// them periodically. Several replicas may run one: each change is made
// only if the rollout still stands as its Check found it.
type Guardian struct {
	current  func() *Set
	edit     Editor
	opts     GuardianOptions
	rollouts []GuardedRollout
}

// NewGuardian returns a Guardian of rollouts, reading their flags from
// current (an Evaluator's Current, synced with the store edit writes to)
// and changing them through edit.
func NewGuardian(current func() *Set, edit Editor, opts GuardianOptions, rollouts ...GuardedRollout) (*Guardian, error) {
	if opts.Actor == "" {
		opts.Actor = "guardian"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	for _, r := range rollouts {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	return &Guardian{current: current, edit: edit, opts: opts, rollouts: rollouts}, nil
}

func (r GuardedRollout) validate() error {
	if r.Flag == "" || len(r.Steps) == 0 {
		return fmt.Errorf("%w: a guarded rollout needs a flag and steps", ErrInvalidDefinitions)
	}
	last := -1
	for _, s := range r.Steps {
		if s.Percent <= last || s.Percent > 100 || s.Hold < 0 {
			return fmt.Errorf("%w: guarded rollout %q: steps must rise, to at most 100, with holds of zero or more", ErrInvalidDefinitions, r.Flag)
		}
		last = s.Percent
	}
	for _, g := range r.Guards {
		if g.Name == "" || g.Read == nil || g.Max < 0 || g.MaxIncrease < 0 || math.IsNaN(g.Max) || math.IsNaN(g.MaxIncrease) {
			return fmt.Errorf("%w: guarded rollout %q: a guard needs a name, a Read and thresholds of zero or more", ErrInvalidDefinitions, r.Flag)
		}
	}
	return nil
}

// GuardDecision is what a Check did with one rollout.
type GuardDecision struct {
	Flag    string
	Action  string // "start", "advance", "complete", "rollback", "pause", "hold", or "none" (not progressing)
	Percent int    // the percentage served after the decision
	Reason  string
	Err     error // the change could not be made
}

// rolloutState is a rollout's progress, from the flag's metadata.
type rolloutState struct {
	status, reason string
	step, lastGood int
	since          time.Time
	percent        int // what the flag serves now
}

func stateOf(f Flag) rolloutState {
	num := func(k string) int {
		switch v := f.Metadata[k].(type) {
		case float64:
			return int(v)
		case int:
			return v
		case int64:
			return int(v)
		case string:
			n, _ := strconv.Atoi(v)
			return n
		}
		return 0
	}
	st := rolloutState{step: num(RolloutStepKey), lastGood: num(RolloutLastGoodKey), since: time.Unix(int64(num(RolloutSinceKey)), 0)}
	st.status, _ = f.Metadata[RolloutStatusKey].(string)
	st.reason, _ = f.Metadata[RolloutReasonKey].(string)
	st.percent, _ = percentOf(f.Targeting)
	return st
}

// percentOf finds the "on" share of the first on/off percentage split
// of rule, as RolloutFlag writes it.
func percentOf(rule any) (int, bool) {
	switch t := rule.(type) {
	case map[string]any:
		if list, ok := t["fractional"].([]any); ok && len(list) == 3 {
			if on, ok := list[1].([]any); ok && len(on) == 2 && on[0] == "on" {
				switch p := on[1].(type) {
				case int:
					return p, true
				case float64:
					return int(p), true
				}
			}
		}
		for _, args := range t {
			if p, ok := percentOf(args); ok {
				return p, true
			}
		}
	case []any:
		for _, it := range t {
			if p, ok := percentOf(it); ok {
				return p, true
			}
		}
	}
	return 0, false
}

// Check judges every rollout once, at the Guardian's clock.
func (g *Guardian) Check(ctx context.Context) []GuardDecision {
	out := make([]GuardDecision, 0, len(g.rollouts))
	for _, r := range g.rollouts {
		d := g.check(ctx, r)
		level := slog.LevelDebug
		if d.Action != "hold" && d.Action != "none" || d.Err != nil {
			level = slog.LevelInfo
		}
		g.opts.Logger.Log(ctx, level, "guarded rollout", "flag", d.Flag, "action", d.Action, "percent", d.Percent, "reason", d.Reason, "err", d.Err)
		out = append(out, d)
	}
	return out
}

// Run checks the rollouts every interval until ctx ends.
func (g *Guardian) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.Check(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (g *Guardian) check(ctx context.Context, r GuardedRollout) GuardDecision {
	now := g.opts.Now()
	d := GuardDecision{Flag: r.Flag}
	set := g.current()
	var f Flag
	ok := false
	if set != nil {
		f, ok = set.defs.Flags[r.Flag]
	}
	if !ok {
		d.Action, d.Err = "none", fmt.Errorf("guarded rollout: flag %q: %w", r.Flag, ErrNotFound)
		return d
	}
	st := stateOf(f)
	d.Percent = st.percent
	switch {
	case st.status == "":
		first := r.Steps[0]
		d.Action, d.Percent, d.Reason = "start", first.Percent, fmt.Sprintf("step 1 of %d: %d%%", len(r.Steps), first.Percent)
		d.Err = g.change(ctx, r.Flag, st, d.Action, func(f *Flag) rolloutState {
			return rolloutState{status: RolloutProgressing, reason: d.Reason, step: 0, lastGood: st.percent, since: now, percent: first.Percent}
		})
		return d
	case st.status != RolloutProgressing:
		d.Action, d.Reason = "none", st.status+": "+st.reason
		return d
	case f.State == Disabled:
		d.Action, d.Reason = "none", "the flag is disabled (kill switch)"
		return d
	}
	step := r.Steps[min(max(st.step, 0), len(r.Steps)-1)]
	if st.percent != step.Percent {
		d.Action, d.Reason = "none", fmt.Sprintf("the percentage was set by hand to %d%%, off step %d (%d%%); Resume hands it back", st.percent, st.step+1, step.Percent)
		return d
	}
	verdict, reason := g.judge(ctx, r, st.since)
	switch verdict {
	case guardFails:
		if r.OnFail == GuardPause {
			d.Action, d.Reason = "pause", reason
			d.Err = g.change(ctx, r.Flag, st, d.Action, func(*Flag) rolloutState {
				return rolloutState{status: RolloutPaused, reason: reason, step: st.step, lastGood: st.lastGood, since: st.since, percent: st.percent}
			})
			return d
		}
		d.Action, d.Percent, d.Reason = "rollback", st.lastGood, reason
		d.Err = g.change(ctx, r.Flag, st, d.Action, func(*Flag) rolloutState {
			return rolloutState{status: RolloutRolledBack, reason: reason, step: st.step, lastGood: st.lastGood, since: now, percent: st.lastGood}
		})
		return d
	case guardUnsure, guardBlind:
		d.Action, d.Reason = "hold", reason
		if verdict == guardBlind && reason != st.reason { // say why, once: a guard that cannot see holds the rollout
			d.Err = g.change(ctx, r.Flag, st, "hold", func(*Flag) rolloutState {
				held := st
				held.reason = reason
				return held
			})
		}
		return d
	}
	if now.Sub(st.since) < step.Hold {
		d.Action, d.Reason = "hold", fmt.Sprintf("guards hold; step %d of %d until %s", st.step+1, len(r.Steps), st.since.Add(step.Hold).UTC().Format(time.RFC3339))
		return d
	}
	if st.step >= len(r.Steps)-1 {
		d.Action, d.Reason = "complete", fmt.Sprintf("guards held at %d%% for %s", st.percent, step.Hold)
		d.Err = g.change(ctx, r.Flag, st, d.Action, func(*Flag) rolloutState {
			return rolloutState{status: RolloutComplete, reason: d.Reason, step: st.step, lastGood: st.percent, since: now, percent: st.percent}
		})
		return d
	}
	next := r.Steps[st.step+1]
	d.Action, d.Percent = "advance", next.Percent
	d.Reason = fmt.Sprintf("guards held at %d%% for %s; step %d of %d: %d%%", st.percent, step.Hold, st.step+2, len(r.Steps), next.Percent)
	d.Err = g.change(ctx, r.Flag, st, d.Action, func(*Flag) rolloutState {
		return rolloutState{status: RolloutProgressing, reason: d.Reason, step: st.step + 1, lastGood: st.percent, since: now, percent: next.Percent}
	})
	return d
}

type guardVerdict int

const (
	guardHolds  guardVerdict = iota
	guardUnsure              // too few samples yet
	guardBlind               // a metric could not be read
	guardFails
)

// judge reads every guard since the step began: one failing fails the
// rollout; one that cannot be read, or has too few samples, holds it.
func (g *Guardian) judge(ctx context.Context, r GuardedRollout, since time.Time) (guardVerdict, string) {
	verdict, why := guardHolds, ""
	for _, gd := range r.Guards {
		on, err := gd.Read(ctx, r.Flag, "on", since)
		if err != nil {
			verdict, why = guardBlind, fmt.Sprintf("guard %s: metric unavailable, holding: %v", gd.Name, err)
			continue
		}
		if on.Samples < gd.MinSamples {
			if verdict == guardHolds {
				verdict, why = guardUnsure, fmt.Sprintf("guard %s: %d of %d samples, holding", gd.Name, on.Samples, gd.MinSamples)
			}
			continue
		}
		if gd.Max > 0 && on.Value > gd.Max {
			return guardFails, fmt.Sprintf("guard %s: %g over %g (%d samples)", gd.Name, on.Value, gd.Max, on.Samples)
		}
		if gd.MaxIncrease > 0 {
			off, err := gd.Read(ctx, r.Flag, "off", since)
			if err != nil {
				verdict, why = guardBlind, fmt.Sprintf("guard %s: metric of off unavailable, holding: %v", gd.Name, err)
				continue
			}
			if off.Samples >= gd.MinSamples && on.Value > off.Value*(1+gd.MaxIncrease) {
				return guardFails, fmt.Sprintf("guard %s: %g against %g without the feature, more than %g%% worse", gd.Name, on.Value, off.Value, gd.MaxIncrease*100)
			}
		}
	}
	return verdict, why
}

// errMoved is a change not made because the rollout moved since Check
// read it (another replica's Guardian, or an operator).
var errMoved = errors.New("the rollout changed since it was read")

// change writes a rollout's new state, and its percentage, into the
// flag, if the rollout still stands as st.
func (g *Guardian) change(ctx context.Context, key string, st rolloutState, action string, next func(*Flag) rolloutState) error {
	err := g.edit.Edit(ctx, g.opts.Actor, "rollout_"+action, func(d *Definitions) error {
		f, ok := d.Flags[key]
		if !ok {
			return fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		if cur := stateOf(f); cur.status != st.status || cur.step != st.step || !cur.since.Equal(st.since) || cur.percent != st.percent {
			return errMoved
		}
		ns := next(&f)
		if ns.percent != st.percent {
			d.Flags[key] = f
			if err := d.SetPercent(key, ns.percent); err != nil {
				return err
			}
			f = d.Flags[key]
		}
		meta := maps.Clone(f.Metadata)
		if meta == nil {
			meta = map[string]any{}
		}
		meta[RolloutStatusKey], meta[RolloutReasonKey] = ns.status, ns.reason
		meta[RolloutStepKey], meta[RolloutLastGoodKey], meta[RolloutSinceKey] = ns.step, ns.lastGood, ns.since.Unix()
		f.Metadata = meta
		d.Flags[key] = f
		return nil
	})
	if errors.Is(err, errMoved) {
		return nil // someone else acted; the next Check sees what they did
	}
	return err
}

// Resume sets a paused or rolled-back rollout going again, as an
// operator decides, or hands back one whose percentage was set by hand:
// from the last step at or below the percentage it serves (the first
// step if none is), held afresh from now.
func (g *Guardian) Resume(ctx context.Context, flag, actor string) error {
	i := slices.IndexFunc(g.rollouts, func(r GuardedRollout) bool { return r.Flag == flag })
	if i < 0 {
		return fmt.Errorf("%w: no guarded rollout of %q", ErrNotFound, flag)
	}
	steps := g.rollouts[i].Steps
	return g.edit.Edit(ctx, actor, "rollout_resume", func(d *Definitions) error {
		f, ok := d.Flags[flag]
		if !ok {
			return fmt.Errorf("%w: %q", ErrNotFound, flag)
		}
		st := stateOf(f)
		step := 0
		for j, s := range steps {
			if s.Percent <= st.percent {
				step = j
			}
		}
		if st.percent != steps[step].Percent {
			if err := d.SetPercent(flag, steps[step].Percent); err != nil {
				return err
			}
			f = d.Flags[flag]
		}
		meta := maps.Clone(f.Metadata)
		if meta == nil {
			meta = map[string]any{}
		}
		meta[RolloutStatusKey], meta[RolloutReasonKey] = RolloutProgressing, "resumed by "+actor
		meta[RolloutStepKey], meta[RolloutLastGoodKey], meta[RolloutSinceKey] = step, st.percent, g.opts.Now().Unix()
		f.Metadata = meta
		d.Flags[flag] = f
		return nil
	})
}
