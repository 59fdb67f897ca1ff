// Package retention decides which backups to keep, with exactly the
// rules of restic's forget command, as a pure function: snapshots and a
// policy in, a plan out that explains every decision. Nothing is
// deleted here; the caller acts on the plan (or just prints it, as a
// dry run).
//
//	plan, err := retention.Apply(snapshots, retention.GFS(), retention.Options{})
//	if err != nil {
//		return err
//	}
//	for _, d := range plan.Decisions {
//		fmt.Println(d.Snapshot.ID, d.Keep, d.Reasons) // b7e2 true [daily snapshot weekly snapshot]
//	}
//	for _, s := range plan.Forget() {
//		// delete s
//	}
//
// # Rules
//
// Snapshots are grouped by Snapshot.Group (a source of a tenant, say);
// each group is decided on its own, walking its snapshots newest first
// (equal times keep their input order). A snapshot is kept when any
// rule of the Policy keeps it:
//
//   - Count rules Last, Hourly, Daily, Weekly, Monthly, Yearly put each
//     snapshot in a bucket, the hour, day, ISO 8601 week, month or year
//     of its own Time in its own location (Last: every snapshot is its
//     own bucket). A snapshot whose bucket differs from the one the rule
//     kept last is kept and uses up one count; so the newest snapshot of
//     each period is kept, and periods without snapshots cost nothing.
//     -1 means unlimited.
//   - When the walk reaches the oldest snapshot and a rule still has
//     counts left, the oldest snapshot is kept too ("oldest monthly
//     snapshot"), to reach as far back as the counts allow.
//   - Within keeps every snapshot newer than the group's newest
//     snapshot minus the Duration, subtracted on the calendar (years,
//     months, days, then hours). The clock plays no part, so a backup
//     that stopped a year ago is not forgotten wholesale.
//   - WithinHourly to WithinYearly keep the newest snapshot of each
//     period inside their window, without a count.
//   - Tags keeps every snapshot that has all the tags of one of its
//     lists.
//
// Reasons use restic's words: "last snapshot", "daily snapshot",
// "oldest yearly snapshot", "within 1y1m1d", "weekly within 1m",
// "has tags [foo, bar]".
//
// # Safety
//
// Apply refuses an empty policy (ErrEmptyPolicy) and an invalid one
// (ErrInvalidPolicy, naming the field). It never plans to forget every
// snapshot of a group: when no rule keeps anything of a group, which
// only a Tags-only policy can do, its newest snapshot is kept with
// ReasonLastCopy, unless Options.AllowDeletingLast is set.
//
// # Compared with restic and kopia
//
// restic's own test suite (testdata/restic-retention, 40 policies over
// 103 snapshots) passes with the same snapshots kept, in the same
// order, for the same reasons, with the same counts left; the suite's
// empty policy keeps nothing, and Apply refuses it. Where restic
// differs: it leaves snapshots dated in the future out when it finds
// the newest, which makes its result depend on the clock; here the
// newest snapshot is the newest. Its --keep-unique (by tree contents)
// is out of scope.
//
// Each period has its own key space (period, year, number), so ISO week
// 1 of 2026, which starts on 2025-12-29, is neither January 2026 nor a
// week of 2025: the week and month collisions of kopia issues 2964 and
// 5096 cannot happen.
package retention
