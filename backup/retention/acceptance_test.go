package retention_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup/retention"
)

// resticDir holds restic's retention suite (BSD 2-Clause, see its
// README): 103 snapshots, 40 policies and what restic keeps for each.
const resticDir = "testdata/restic-retention"

// fixtureSnapshot is a snapshot as the suite writes it.
type fixtureSnapshot struct {
	Time  time.Time `json:"time"`
	Tags  []string  `json:"tags"`
	Paths []string  `json:"paths"`
}

type fixturePolicy struct {
	Last          int                `json:"last"`
	Hourly        int                `json:"hourly"`
	Daily         int                `json:"daily"`
	Weekly        int                `json:"weekly"`
	Monthly       int                `json:"monthly"`
	Yearly        int                `json:"yearly"`
	Within        retention.Duration `json:"within"`
	WithinHourly  retention.Duration `json:"within_hourly"`
	WithinDaily   retention.Duration `json:"within_daily"`
	WithinWeekly  retention.Duration `json:"within_weekly"`
	WithinMonthly retention.Duration `json:"within_monthly"`
	WithinYearly  retention.Duration `json:"within_yearly"`
	Tags          [][]string         `json:"tags"`
}

// kept is one kept snapshot with its reasons and counters, the shape in
// which expected and actual results are compared.
type kept struct {
	Snapshot fixtureSnapshot
	Matches  []string
	Counters map[string]int
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(resticDir, name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// TestResticAcceptance applies every policy of restic's suite and
// checks that exactly restic's snapshots are kept, in restic's order,
// for restic's reasons, with restic's counters left after each.
func TestResticAcceptance(t *testing.T) {
	var fixture []fixtureSnapshot
	readJSON(t, "snapshots.json", &fixture)
	require.Len(t, fixture, 103)
	snaps := make([]retention.Snapshot, len(fixture))
	for i, f := range fixture {
		snaps[i] = retention.Snapshot{ID: strconv.Itoa(i), Time: f.Time, Tags: f.Tags}
	}
	var policies []struct {
		Index  int           `json:"index"`
		Policy fixturePolicy `json:"policy"`
	}
	readJSON(t, "policies.json", &policies)
	require.Len(t, policies, 40)

	for _, tc := range policies {
		t.Run(strconv.Itoa(tc.Index), func(t *testing.T) {
			var want struct {
				Keep    []fixtureSnapshot `json:"keep"`
				Reasons []struct {
					Snapshot fixtureSnapshot `json:"snapshot"`
					Matches  []string        `json:"matches"`
					Counters map[string]int  `json:"counters"`
				} `json:"reasons"`
			}
			readJSON(t, fmt.Sprintf("expected/policy_keep_snapshots_%d.json", tc.Index), &want)

			plan, err := retention.Apply(snaps, retention.Policy(tc.Policy), retention.Options{})
			if retention.Policy(tc.Policy).Empty() {
				// restic keeps nothing; we refuse to plan at all.
				require.ErrorIs(t, err, retention.ErrEmptyPolicy)
				assert.Empty(t, want.Keep)
				return
			}
			require.NoError(t, err)
			require.Len(t, plan.Decisions, len(snaps))

			require.Len(t, want.Reasons, len(want.Keep))
			var wantKept, gotKept []kept
			for i, r := range want.Reasons {
				require.Equal(t, want.Keep[i], r.Snapshot)
				wantKept = append(wantKept, kept{r.Snapshot, r.Matches, r.Counters})
			}
			for _, d := range plan.Decisions {
				if !d.Keep {
					assert.Equal(t, []string{retention.ReasonNoRule}, d.Reasons)
					continue
				}
				i, err := strconv.Atoi(d.Snapshot.ID)
				require.NoError(t, err)
				gotKept = append(gotKept, kept{fixture[i], d.Reasons, counters(d.Remaining)})
			}
			assert.Equal(t, wantKept, gotKept)
		})
	}
}

// counters writes c as restic's KeepReason does: counts that are zero
// left out.
func counters(c retention.Counts) map[string]int {
	m := map[string]int{}
	for name, n := range map[string]int{"last": c.Last, "hourly": c.Hourly, "daily": c.Daily,
		"weekly": c.Weekly, "monthly": c.Monthly, "yearly": c.Yearly} {
		if n != 0 {
			m[name] = n
		}
	}
	return m
}
