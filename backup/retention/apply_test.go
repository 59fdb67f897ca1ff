package retention_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup/retention"
)

// decision is the part of a Decision these tests compare.
type decision struct {
	ID      string
	Keep    bool
	Reasons []string
}

func decisions(p retention.Plan) []decision {
	var out []decision
	for _, d := range p.Decisions {
		out = append(out, decision{d.Snapshot.ID, d.Keep, d.Reasons})
	}
	return out
}

// daily returns one snapshot at noon UTC for each day from first to
// last, IDs being the dates.
func daily(first, last string) []retention.Snapshot {
	from, _ := time.Parse(time.DateOnly, first)
	to, _ := time.Parse(time.DateOnly, last)
	var out []retention.Snapshot
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, retention.Snapshot{ID: d.Format(time.DateOnly), Time: d.Add(12 * time.Hour)})
	}
	return out
}

// TestYearBoundary: ISO week 1 of 2026 runs from Monday 2025-12-29 to
// Sunday 2026-01-04, so those seven days are one weekly bucket although
// they span two months and two years. Weeks, months and years have
// their own keys: week 2026-W01 is not month 2026-01 (kopia issues
// 2964 and 5096), and 2025-12-31 is in week 2026-W01, not in a week of
// 2025.
func TestYearBoundary(t *testing.T) {
	snaps := daily("2025-12-29", "2026-01-05")
	plan, err := retention.Apply(snaps, retention.Policy{Weekly: 3, Monthly: 3, Yearly: 3}, retention.Options{})
	require.NoError(t, err)
	forget := []string{retention.ReasonNoRule}
	assert.Equal(t, []decision{
		{"2026-01-05", true, []string{"weekly snapshot", "monthly snapshot", "yearly snapshot"}}, // 2026-W02
		{"2026-01-04", true, []string{"weekly snapshot"}},                                        // 2026-W01
		{"2026-01-03", false, forget},
		{"2026-01-02", false, forget},
		{"2026-01-01", false, forget},
		{"2025-12-31", true, []string{"monthly snapshot", "yearly snapshot"}}, // still 2026-W01
		{"2025-12-30", false, forget},
		// Only two weeks, months and years have snapshots, so every rule
		// has a count left for the oldest snapshot.
		{"2025-12-29", true, []string{"oldest weekly snapshot", "oldest monthly snapshot", "oldest yearly snapshot"}},
	}, decisions(plan))
	assert.Equal(t, retention.Counts{}, plan.Decisions[7].Remaining)

	// Weekly alone: the newest of each ISO week, however the months fall.
	plan, err = retention.Apply(daily("2025-12-22", "2026-01-12"), retention.Policy{Weekly: -1}, retention.Options{})
	require.NoError(t, err)
	var ids []string
	for _, s := range plan.Keep() {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"2026-01-12", "2026-01-11", "2026-01-04", "2025-12-28", "2025-12-22"}, ids)
}

// TestOwnLocation: periods are those of the snapshot's own clock.
// 00:30 on New Year's Day at UTC+2 is still 2025 in UTC.
func TestOwnLocation(t *testing.T) {
	east := time.FixedZone("UTC+2", 2*60*60)
	snaps := []retention.Snapshot{
		{ID: "new-year", Time: time.Date(2026, 1, 1, 0, 30, 0, 0, east)},
		{ID: "eve", Time: time.Date(2025, 12, 31, 21, 0, 0, 0, time.UTC)},
	}
	plan, err := retention.Apply(snaps, retention.Policy{Yearly: 5}, retention.Options{})
	require.NoError(t, err)
	assert.Equal(t, []decision{
		{"new-year", true, []string{"yearly snapshot"}},
		{"eve", true, []string{"yearly snapshot"}},
	}, decisions(plan))
}

// TestWithinCalendar: within subtracts calendar months from the newest
// snapshot, not from now: a month before 2024-03-31 is "February 31",
// which is 2024-03-02, and the window excludes its start.
func TestWithinCalendar(t *testing.T) {
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}
	snaps := []retention.Snapshot{
		{ID: "newest", Time: at("2024-03-31T00:00:00Z")},
		{ID: "inside", Time: at("2024-03-02T00:00:01Z")},
		{ID: "edge", Time: at("2024-03-02T00:00:00Z")},
		{ID: "feb", Time: at("2024-02-29T00:00:00Z")},
	}
	plan, err := retention.Apply(snaps, retention.Policy{Within: retention.Duration{Months: 1}}, retention.Options{})
	require.NoError(t, err)
	assert.Equal(t, []decision{
		{"newest", true, []string{"within 1m"}},
		{"inside", true, []string{"within 1m"}},
		{"edge", false, []string{retention.ReasonNoRule}},
		{"feb", false, []string{retention.ReasonNoRule}},
	}, decisions(plan))
}

// TestLastCopy: a policy that keeps nothing of a group still leaves its
// newest snapshot, unless the caller allows deleting the last copy.
func TestLastCopy(t *testing.T) {
	snaps := []retention.Snapshot{
		{ID: "old", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Group: "db"},
		{ID: "new", Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Group: "db"},
		{ID: "pinned", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Group: "files", Tags: []string{"pinned"}},
		{ID: "files", Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Group: "files"},
	}
	p := retention.Policy{Tags: [][]string{{"pinned"}}}
	forget := []string{retention.ReasonNoRule}
	for _, tc := range []struct {
		opts retention.Options
		want []decision
	}{
		{retention.Options{}, []decision{
			{"new", true, []string{retention.ReasonLastCopy}},
			{"old", false, forget},
			// files keeps a snapshot by rule, so no last copy is needed.
			{"files", false, forget},
			{"pinned", true, []string{"has tags [pinned]"}},
		}},
		{retention.Options{AllowDeletingLast: true}, []decision{
			{"new", false, forget},
			{"old", false, forget},
			{"files", false, forget},
			{"pinned", true, []string{"has tags [pinned]"}},
		}},
	} {
		plan, err := retention.Apply(snaps, p, tc.opts)
		require.NoError(t, err)
		assert.Equal(t, tc.want, decisions(plan), "%+v", tc.opts)
	}
}

// TestGroups: each group is weighed on its own, so Last 1 keeps one
// snapshot per group; the plan lists groups by name, newest first, and
// equal times keep their input order.
func TestGroups(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snaps := []retention.Snapshot{
		{ID: "b1", Time: t0, Group: "tenant-b"},
		{ID: "a1", Time: t0, Group: "tenant-a"},
		{ID: "a2", Time: t0.Add(time.Hour), Group: "tenant-a"},
		{ID: "b2", Time: t0, Group: "tenant-b"},
	}
	input := append([]retention.Snapshot(nil), snaps...)
	plan, err := retention.Apply(snaps, retention.Policy{Last: 1}, retention.Options{})
	require.NoError(t, err)
	assert.Equal(t, input, snaps, "Apply must not reorder its input")
	assert.Equal(t, []decision{
		{"a2", true, []string{"last snapshot"}},
		{"a1", false, []string{retention.ReasonNoRule}},
		{"b1", true, []string{"last snapshot"}},
		{"b2", false, []string{retention.ReasonNoRule}},
	}, decisions(plan))
	assert.Len(t, plan.Keep(), 2)
	assert.Len(t, plan.Forget(), 2)

	plan, err = retention.Apply(nil, retention.GFS(), retention.Options{})
	require.NoError(t, err)
	assert.Empty(t, plan.Decisions)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy retention.Policy
		err    error
		msg    string
	}{
		{"empty", retention.Policy{}, retention.ErrEmptyPolicy, "retention: empty policy keeps nothing"},
		{"negative count", retention.Policy{Daily: -2}, retention.ErrInvalidPolicy,
			"retention: invalid policy: Daily is -2 (want -1 for unlimited, 0 for none, or a count)"},
		{"negative duration", retention.Policy{WithinWeekly: retention.Duration{Days: -1}}, retention.ErrInvalidPolicy,
			"retention: invalid policy: WithinWeekly.Days is -1 (want 0 to 1000000)"},
		{"huge duration", retention.Policy{Within: retention.Duration{Hours: 1_000_001}}, retention.ErrInvalidPolicy,
			"retention: invalid policy: Within.Hours is 1000001 (want 0 to 1000000)"},
		{"empty tag list", retention.Policy{Tags: [][]string{{"a"}, {}}}, retention.ErrInvalidPolicy,
			"retention: invalid policy: Tags[1] is empty (it would match every snapshot)"},
		{"empty tag", retention.Policy{Tags: [][]string{{"a", ""}}}, retention.ErrInvalidPolicy,
			"retention: invalid policy: Tags[0][1] is an empty tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Validate()
			require.ErrorIs(t, err, tc.err)
			assert.EqualError(t, err, tc.msg)
			_, err = retention.Apply([]retention.Snapshot{{ID: "x"}}, tc.policy, retention.Options{})
			assert.ErrorIs(t, err, tc.err)
		})
	}
	assert.NoError(t, retention.GFS().Validate())
	assert.False(t, retention.GFS().Empty())
	assert.True(t, retention.Policy{Tags: [][]string{}}.Empty())
	assert.False(t, retention.Policy{WithinYearly: retention.Duration{Hours: 1}}.Empty())
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want retention.Duration
		str  string
	}{
		{"1y2m3d4h", retention.Duration{Years: 1, Months: 2, Days: 3, Hours: 4}, "1y2m3d4h"},
		{"1y1d1m", retention.Duration{Years: 1, Months: 1, Days: 1}, "1y1m1d"},
		{"13d23h", retention.Duration{Days: 13, Hours: 23}, "13d23h"},
		{"9999y", retention.Duration{Years: 9999}, "9999y"},
		{"0d", retention.Duration{}, "0d"},
		{"007h", retention.Duration{Hours: 7}, "7h"},
		{"1000000h", retention.Duration{Hours: 1_000_000}, "1000000h"},
	} {
		d, err := retention.ParseDuration(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, d, tc.in)
		assert.Equal(t, tc.str, d.String(), tc.in)
	}
	for in, msg := range map[string]string{
		"":         `retention: invalid duration "": empty (want parts like 1y2m3d4h)`,
		"1w":       `retention: invalid duration "1w": unknown unit 'w' after 1 (want y, m, d or h)`,
		"5":        `retention: invalid duration "5": number 5 has no unit (want y, m, d or h)`,
		"d":        `retention: invalid duration "d": want a number at offset 0, got "d"`,
		"-1d":      `retention: invalid duration "-1d": want a number at offset 0, got "-"`,
		"1d 2h":    `retention: invalid duration "1d 2h": want a number at offset 2, got " "`,
		"1d2d":     `retention: invalid duration "1d2d": unit 'd' given twice`,
		"1000001y": `retention: invalid duration "1000001y": 1000001y exceeds 1000000`,
		"99999999999999999999999h": `retention: invalid duration "99999999999999999999999h": ` +
			`99999999999999999999999h exceeds 1000000`,
	} {
		_, err := retention.ParseDuration(in)
		require.ErrorIs(t, err, retention.ErrInvalidDuration, in)
		assert.EqualError(t, err, msg)
	}

	var d retention.Duration
	require.NoError(t, d.UnmarshalText([]byte("2m2h")))
	assert.Equal(t, retention.Duration{Months: 2, Hours: 2}, d)
	text, err := d.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "2m2h", string(text))
	assert.ErrorIs(t, d.UnmarshalText([]byte("2x")), retention.ErrInvalidDuration)
	assert.True(t, retention.Duration{}.IsZero())
}
