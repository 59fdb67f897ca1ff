package retention

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Reasons that no policy rule gives.
const (
	// ReasonNoRule is the reason of every snapshot the plan forgets.
	ReasonNoRule = "no rule keeps it"
	// ReasonLastCopy keeps the newest snapshot of a group that no rule
	// keeps anything of, unless Options.AllowDeletingLast is set.
	ReasonLastCopy = "last copy kept"
)

// Snapshot is one backup, as retention sees it.
type Snapshot struct {
	// ID identifies the snapshot to the caller; Apply only carries it.
	ID string
	// Time is when the snapshot was taken. Its periods (hour, day, ISO
	// week, month, year) are those of its own location.
	Time time.Time
	// Tags are what Policy.Tags match.
	Tags []string
	// Group holds snapshots that retention weighs together, typically
	// one source of one tenant; the policy applies to each group on its
	// own.
	Group string
}

// Options tune Apply. The zero value is the safe default.
type Options struct {
	// AllowDeletingLast lets a plan forget every snapshot of a group
	// when no rule keeps any of them. By default (false) the newest
	// snapshot of such a group is kept with ReasonLastCopy, so a policy
	// can never empty a group.
	AllowDeletingLast bool
}

// Counts holds the counts a policy's count rules have left; -1 is
// unlimited, 0 is used up or not configured.
type Counts struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
}

// Decision is the plan for one snapshot.
type Decision struct {
	Snapshot Snapshot
	// Keep is true when the snapshot stays.
	Keep bool
	// Reasons explains the decision: restic's wording for each rule that
	// keeps the snapshot ("daily snapshot", "oldest yearly snapshot",
	// "within 1y1m1d", "has tags [foo, bar]"), ReasonLastCopy, or, for a
	// snapshot to forget, ReasonNoRule.
	Reasons []string
	// Remaining is what the count rules have left after this snapshot.
	Remaining Counts
}

// Plan is a dry run: a decision for every snapshot, with the reasons.
// Decisions are ordered by Group, then newest first; snapshots with
// equal times keep their input order.
type Plan struct {
	Decisions []Decision
}

// Keep returns the snapshots the plan keeps, in plan order.
func (p Plan) Keep() []Snapshot { return p.filter(true) }

// Forget returns the snapshots the plan forgets, in plan order.
func (p Plan) Forget() []Snapshot { return p.filter(false) }

func (p Plan) filter(keep bool) []Snapshot {
	var out []Snapshot
	for _, d := range p.Decisions {
		if d.Keep == keep {
			out = append(out, d.Snapshot)
		}
	}
	return out
}

// Apply decides which snapshots policy p keeps, with the semantics of
// restic's forget command (see the package documentation), for each
// group independently. It does not change snaps. It fails with
// ErrEmptyPolicy or an ErrInvalidPolicy error when p.Validate does.
func Apply(snaps []Snapshot, p Policy, opts Options) (Plan, error) {
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	groups := map[string][]Snapshot{}
	for _, s := range snaps {
		groups[s.Group] = append(groups[s.Group], s)
	}
	plan := Plan{Decisions: make([]Decision, 0, len(snaps))}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		plan.Decisions = append(plan.Decisions, applyGroup(groups[g], p, opts)...)
	}
	return plan, nil
}

// applyGroup walks one group's snapshots newest first, offering each to
// every rule. snaps is the group's own copy and is sorted in place.
func applyGroup(snaps []Snapshot, p Policy, opts Options) []Decision {
	slices.SortStableFunc(snaps, func(a, b Snapshot) int { return b.Time.Compare(a.Time) })
	rules := newRules(p, snaps[0].Time)
	out := make([]Decision, len(snaps))
	kept := false
	for nr, s := range snaps {
		d := Decision{Snapshot: s}
		for _, list := range p.Tags {
			if hasAll(s.Tags, list) {
				d.Reasons = append(d.Reasons, "has tags ["+strings.Join(list, ", ")+"]")
			}
		}
		for _, r := range rules {
			if reason, ok := r.offer(s.Time, nr, nr == len(snaps)-1); ok {
				d.Reasons = append(d.Reasons, reason)
			}
		}
		d.Remaining = remaining(rules)
		d.Keep = len(d.Reasons) > 0
		if !d.Keep {
			d.Reasons = []string{ReasonNoRule}
		}
		kept = kept || d.Keep
		out[nr] = d
	}
	if !kept && !opts.AllowDeletingLast {
		out[0].Keep = true
		out[0].Reasons = []string{ReasonLastCopy}
	}
	return out
}

// rule is one count or within rule while a group is walked.
type rule struct {
	period  period
	reason  string
	left    int  // counts left; -1 is unlimited
	counted bool // a count rule, reported in Decision.Remaining
	// A within rule keeps only snapshots after cutoff.
	windowed bool
	cutoff   time.Time
	// The bucket of the last snapshot this rule kept, once started.
	last    bucketKey
	started bool
}

// newRules builds p's enabled rules for a group whose newest snapshot
// is at newest. Within windows end there, not at "now".
func newRules(p Policy, newest time.Time) []*rule {
	var rules []*rule
	for _, s := range p.rules() {
		switch {
		case s.count != 0:
			rules = append(rules, &rule{period: s.period, reason: s.reason, left: s.count, counted: true})
		case !s.within.IsZero():
			rules = append(rules, &rule{period: s.period, reason: s.reason + " " + s.within.String(),
				left: -1, windowed: true, cutoff: s.within.before(newest)})
		}
	}
	return rules
}

// offer shows the rule the snapshot at position nr (newest first) and
// reports whether the rule keeps it, and why. A rule keeps a snapshot
// whose bucket differs from the bucket it kept last, while it has
// counts left; it also keeps the oldest snapshot while it has counts
// left, as restic does, to reach as far back as the counts allow.
func (r *rule) offer(t time.Time, nr int, oldest bool) (string, bool) {
	if r.left == 0 || (r.windowed && !t.After(r.cutoff)) {
		return "", false
	}
	k := keyOf(r.period, t, nr)
	fresh := !r.started || k != r.last
	if !fresh && !oldest {
		return "", false
	}
	r.started, r.last = true, k
	if r.left > 0 {
		r.left--
	}
	if fresh {
		return r.reason, true
	}
	return "oldest " + r.reason, true
}

// remaining reports what the count rules have left.
func remaining(rules []*rule) Counts {
	var left [perYear + 1]int
	for _, r := range rules {
		if r.counted {
			left[r.period] = r.left
		}
	}
	return Counts{Last: left[perSnapshot], Hourly: left[perHour], Daily: left[perDay],
		Weekly: left[perWeek], Monthly: left[perMonth], Yearly: left[perYear]}
}

// period is the calendar period a rule buckets snapshots by.
type period int

const (
	perSnapshot period = iota // every snapshot is its own bucket
	perHour
	perDay
	perWeek // ISO 8601 week
	perMonth
	perYear
)

// bucketKey names one bucket. Each period has its own key space, so an
// ISO week can never equal a month with the same numbers: week 1 of
// 2026 (which starts on 2025-12-29) is {perWeek, 2026, 1} and January
// 2026 is {perMonth, 2026, 1}.
type bucketKey struct {
	period period
	year   int
	n      int // hour, day or week of the year, month, or snapshot position
}

// keyOf returns the bucket of a snapshot taken at t, at position nr in
// its group, in t's own location.
func keyOf(per period, t time.Time, nr int) bucketKey {
	switch per {
	case perHour:
		return bucketKey{per, t.Year(), (t.YearDay()-1)*24 + t.Hour()}
	case perDay:
		return bucketKey{per, t.Year(), t.YearDay()}
	case perWeek:
		year, week := t.ISOWeek()
		return bucketKey{per, year, week}
	case perMonth:
		return bucketKey{per, t.Year(), int(t.Month())}
	case perYear:
		return bucketKey{per, t.Year(), 0}
	default:
		return bucketKey{per, 0, nr}
	}
}

// hasAll reports whether tags holds every tag of want.
func hasAll(tags, want []string) bool {
	for _, w := range want {
		if !slices.Contains(tags, w) {
			return false
		}
	}
	return true
}
