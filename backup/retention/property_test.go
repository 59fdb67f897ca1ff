package retention_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup/retention"
)

// TestProperties applies random policies to random snapshot sets
// (deterministic seed) and checks what must hold for every one:
//   - the plan lists every snapshot exactly once;
//   - it agrees with reference, an independent statement of restic's
//     rules, on every decision and reason;
//   - no group loses its last copy, unless that is allowed;
//   - a policy with a count or within rule keeps each group's newest;
//   - applying the policy again to what it kept keeps all of it.
func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 1))
	for i := range 3000 {
		snaps := randomSnapshots(r)
		p := randomPolicy(r)
		name := fmt.Sprintf("case %d, policy %+v", i, p)

		plan, err := retention.Apply(snaps, p, retention.Options{})
		require.NoError(t, err, name)
		var ids []string
		for _, d := range plan.Decisions {
			ids = append(ids, d.Snapshot.ID)
		}
		var want []string
		for _, s := range snaps {
			want = append(want, s.ID)
		}
		require.ElementsMatch(t, want, ids, name)

		for group, ds := range byGroup(plan) {
			var ruleKeeps bool
			for _, d := range ds {
				ruleKeeps = ruleKeeps || d.Keep && d.Reasons[0] != retention.ReasonLastCopy
			}
			require.Equal(t, reference(ds, p), reasons(ds), "%s, group %s", name, group)
			if hasTimeRule(p) {
				require.True(t, ruleKeeps && ds[0].Keep, "%s: group %s lost its newest snapshot", name, group)
			}
			if !ruleKeeps {
				require.Equal(t, []string{retention.ReasonLastCopy}, ds[0].Reasons, "%s: group %s lost its last copy", name, group)
			}
		}

		again, err := retention.Apply(plan.Keep(), p, retention.Options{})
		require.NoError(t, err, name)
		assert.Empty(t, again.Forget(), "%s: applied twice", name)

		unguarded, err := retention.Apply(snaps, p, retention.Options{AllowDeletingLast: true})
		require.NoError(t, err, name)
		for j, d := range unguarded.Decisions {
			if plan.Decisions[j].Reasons[0] == retention.ReasonLastCopy {
				require.False(t, d.Keep, name)
			} else {
				require.Equal(t, plan.Decisions[j], d, name)
			}
		}
	}
}

// reference returns the reasons restic gives for each snapshot of one
// group, ds newest first, stated rule by rule rather than as one walk:
// a bucket rule keeps the newest snapshot of each of the newest n
// buckets that have snapshots in its window, and the oldest snapshot of
// the group too when that is in its window and fewer than n buckets
// were found.
func reference(ds []retention.Decision, p retention.Policy) [][]string {
	out := make([][]string, len(ds))
	for i, d := range ds {
		for _, list := range p.Tags {
			if hasEvery(d.Snapshot.Tags, list) {
				out[i] = append(out[i], "has tags ["+strings.Join(list, ", ")+"]")
			}
		}
	}
	newest := ds[0].Snapshot.Time
	window := func(reason string, w retention.Duration, bucket func(int, time.Time) string) {
		if w.IsZero() {
			return
		}
		cutoff := newest.AddDate(-w.Years, -w.Months, -w.Days).Add(-time.Duration(w.Hours) * time.Hour)
		keepBuckets(ds, out, reason+" "+w.String(), -1, cutoff, bucket)
	}
	window("within", p.Within, func(i int, _ time.Time) string { return strconv.Itoa(i) })
	for _, c := range []struct {
		reason string
		n      int
		bucket func(int, time.Time) string
	}{
		{"last snapshot", p.Last, func(i int, _ time.Time) string { return strconv.Itoa(i) }},
		{"hourly snapshot", p.Hourly, hourOf},
		{"daily snapshot", p.Daily, dayOf},
		{"weekly snapshot", p.Weekly, weekOf},
		{"monthly snapshot", p.Monthly, monthOf},
		{"yearly snapshot", p.Yearly, yearOf},
	} {
		if c.n != 0 {
			keepBuckets(ds, out, c.reason, c.n, time.Time{}, c.bucket)
		}
	}
	window("hourly within", p.WithinHourly, hourOf)
	window("daily within", p.WithinDaily, dayOf)
	window("weekly within", p.WithinWeekly, weekOf)
	window("monthly within", p.WithinMonthly, monthOf)
	window("yearly within", p.WithinYearly, yearOf)

	keeps := false
	for i := range out {
		keeps = keeps || out[i] != nil
	}
	for i := range out {
		switch {
		case !keeps && i == 0:
			out[i] = []string{retention.ReasonLastCopy}
		case out[i] == nil:
			out[i] = []string{retention.ReasonNoRule}
		}
	}
	return out
}

// keepBuckets adds reason to the snapshots one bucket rule keeps: the
// first of each new bucket among the snapshots after cutoff, and the
// oldest snapshot, while fewer than n buckets (-1: no limit) are seen.
func keepBuckets(ds []retention.Decision, out [][]string, reason string, n int, cutoff time.Time, bucket func(int, time.Time) string) {
	seen := map[string]bool{}
	for i, d := range ds {
		b := bucket(i, d.Snapshot.Time)
		switch {
		case !d.Snapshot.Time.After(cutoff), n >= 0 && len(seen) >= n:
			return
		case !seen[b]:
			out[i] = append(out[i], reason)
		case i == len(ds)-1:
			out[i] = append(out[i], "oldest "+reason)
		}
		seen[b] = true
	}
}

func hourOf(_ int, t time.Time) string  { return t.Format("2006-01-02T15") }
func dayOf(_ int, t time.Time) string   { return t.Format(time.DateOnly) }
func monthOf(_ int, t time.Time) string { return t.Format("2006-01") }
func yearOf(_ int, t time.Time) string  { return t.Format("2006") }
func weekOf(_ int, t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

func hasEvery(tags, want []string) bool {
	for _, w := range want {
		if !slices.Contains(tags, w) {
			return false
		}
	}
	return true
}

func reasons(ds []retention.Decision) [][]string {
	out := make([][]string, len(ds))
	for i, d := range ds {
		out[i] = d.Reasons
	}
	return out
}

func byGroup(p retention.Plan) map[string][]retention.Decision {
	m := map[string][]retention.Decision{}
	for _, d := range p.Decisions {
		m[d.Snapshot.Group] = append(m[d.Snapshot.Group], d)
	}
	return m
}

// hasTimeRule reports whether p has a count or within rule, which
// always keeps the newest snapshot of a group.
func hasTimeRule(p retention.Policy) bool {
	p.Tags = nil
	return !p.Empty()
}

// randomSnapshots returns up to 40 snapshots in up to three groups, on
// one clock (one location per set, as one machine writes them), spread
// over hours to years, some at equal times.
func randomSnapshots(r *rand.Rand) []retention.Snapshot {
	zones := []*time.Location{time.UTC, time.FixedZone("IST", 5*3600+1800), time.FixedZone("PST", -8*3600), time.FixedZone("LINT", 14*3600)}
	spans := []time.Duration{6 * time.Hour, 10 * 24 * time.Hour, 100 * 24 * time.Hour, 3 * 366 * 24 * time.Hour}
	loc := zones[r.IntN(len(zones))]
	span := spans[r.IntN(len(spans))]
	base := time.Date(2024, 12, 1, 0, 0, 0, 0, loc)
	snaps := make([]retention.Snapshot, r.IntN(41))
	for i := range snaps {
		t := base.Add(time.Duration(r.Int64N(int64(span))))
		if i > 0 && r.IntN(10) == 0 {
			t = snaps[r.IntN(i)].Time
		}
		var tags []string
		for _, tag := range []string{"x", "y", "z"} {
			if r.IntN(4) == 0 {
				tags = append(tags, tag)
			}
		}
		snaps[i] = retention.Snapshot{ID: strconv.Itoa(i), Time: t, Tags: tags, Group: string(rune('a' + r.IntN(3)))}
	}
	return snaps
}

// randomPolicy returns a valid, non-empty policy.
func randomPolicy(r *rand.Rand) retention.Policy {
	count := func() int {
		if r.IntN(3) != 0 {
			return 0
		}
		return []int{-1, 1, 2, 3, 5}[r.IntN(5)]
	}
	within := func() retention.Duration {
		if r.IntN(6) != 0 {
			return retention.Duration{}
		}
		return retention.Duration{Years: r.IntN(2), Months: r.IntN(3), Days: r.IntN(10), Hours: r.IntN(30)}
	}
	for {
		p := retention.Policy{
			Last: count(), Hourly: count(), Daily: count(), Weekly: count(), Monthly: count(), Yearly: count(),
			Within: within(), WithinHourly: within(), WithinDaily: within(),
			WithinWeekly: within(), WithinMonthly: within(), WithinYearly: within(),
		}
		for range r.IntN(3) {
			list := []string{[]string{"x", "y", "z"}[r.IntN(3)]}
			if r.IntN(2) == 0 {
				list = append(list, "y")
			}
			p.Tags = append(p.Tags, list)
		}
		if !p.Empty() {
			return p
		}
	}
}
