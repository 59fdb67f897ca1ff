package retention_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/backup/retention"
)

// A dry run of the grandfather-father-son preset over a nightly backup
// that started on 2025-10-01: the last 7 days, 4 ISO weeks, 12 months
// and every year. Only three months have snapshots, so the monthly and
// yearly rules also keep the oldest snapshot, as restic does.
func Example_gfs() {
	var snaps []retention.Snapshot
	for t := time.Date(2025, 10, 1, 2, 0, 0, 0, time.UTC); t.Before(time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)); t = t.AddDate(0, 0, 1) {
		snaps = append(snaps, retention.Snapshot{ID: t.Format("backup-0102"), Time: t, Group: "db/acme"})
	}
	plan, err := retention.Apply(snaps, retention.GFS(), retention.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range plan.Decisions {
		if d.Keep {
			fmt.Printf("keep %s %s: %s\n", d.Snapshot.ID, d.Snapshot.Time.Format("Mon"), strings.Join(d.Reasons, ", "))
		}
	}
	fmt.Printf("forget %d of %d snapshots\n", len(plan.Forget()), len(snaps))
	// Output:
	// keep backup-0110 Sat: daily snapshot, weekly snapshot, monthly snapshot, yearly snapshot
	// keep backup-0109 Fri: daily snapshot
	// keep backup-0108 Thu: daily snapshot
	// keep backup-0107 Wed: daily snapshot
	// keep backup-0106 Tue: daily snapshot
	// keep backup-0105 Mon: daily snapshot
	// keep backup-0104 Sun: daily snapshot, weekly snapshot
	// keep backup-1231 Wed: monthly snapshot, yearly snapshot
	// keep backup-1228 Sun: weekly snapshot
	// keep backup-1221 Sun: weekly snapshot
	// keep backup-1130 Sun: monthly snapshot
	// keep backup-1031 Fri: monthly snapshot
	// keep backup-1001 Wed: oldest monthly snapshot, oldest yearly snapshot
	// forget 89 of 102 snapshots
}

// Every decision of a plan, with why: the two newest snapshots and the
// newest of each of the last three days.
func Example_dryRun() {
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	snaps := []retention.Snapshot{
		{ID: "a", Time: at("2026-03-01 09:00:00")},
		{ID: "b", Time: at("2026-03-01 21:00:00")},
		{ID: "c", Time: at("2026-03-02 09:00:00")},
		{ID: "d", Time: at("2026-03-02 21:00:00")},
		{ID: "e", Time: at("2026-03-03 09:00:00")},
		{ID: "f", Time: at("2026-03-03 21:00:00")},
	}
	plan, err := retention.Apply(snaps, retention.Policy{Last: 2, Daily: 3}, retention.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range plan.Decisions {
		verb := "forget"
		if d.Keep {
			verb = "keep  "
		}
		fmt.Printf("%s %s %s: %s\n", verb, d.Snapshot.ID, d.Snapshot.Time.Format(time.DateTime), strings.Join(d.Reasons, ", "))
	}
	// Output:
	// keep   f 2026-03-03 21:00:00: last snapshot, daily snapshot
	// keep   e 2026-03-03 09:00:00: last snapshot
	// keep   d 2026-03-02 21:00:00: daily snapshot
	// forget c 2026-03-02 09:00:00: no rule keeps it
	// keep   b 2026-03-01 21:00:00: daily snapshot
	// forget a 2026-03-01 09:00:00: no rule keeps it
}

// Keeping tagged snapshots only: a group with no tagged snapshot would
// lose everything, so its newest snapshot stays unless the caller
// allows deleting the last copy.
func ExampleOptions() {
	snaps := []retention.Snapshot{
		{ID: "monday", Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
		{ID: "tuesday", Time: time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
	}
	p := retention.Policy{Tags: [][]string{{"release"}}}
	for _, opts := range []retention.Options{{}, {AllowDeletingLast: true}} {
		plan, _ := retention.Apply(snaps, p, opts)
		fmt.Println("keep", len(plan.Keep()), "forget", len(plan.Forget()), plan.Decisions[0].Reasons)
	}
	_, err := retention.Apply(snaps, retention.Policy{}, retention.Options{})
	fmt.Println(err)
	// Output:
	// keep 1 forget 1 [last copy kept]
	// keep 0 forget 2 [no rule keeps it]
	// retention: empty policy keeps nothing
}

func ExampleParseDuration() {
	d, err := retention.ParseDuration("1y1d1m")
	fmt.Println(d, d.Years, d.Months, d.Days, err)
	_, err = retention.ParseDuration("2w")
	fmt.Println(err)
	// Output:
	// 1y1m1d 1 1 1 <nil>
	// retention: invalid duration "2w": unknown unit 'w' after 2 (want y, m, d or h)
}
