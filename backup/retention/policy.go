package retention

import (
	"errors"
	"fmt"
)

var (
	// ErrEmptyPolicy is returned by Apply for a policy with no rule: it
	// would keep nothing, so applying it is always a mistake.
	ErrEmptyPolicy = errors.New("retention: empty policy keeps nothing")
	// ErrInvalidPolicy is wrapped by the errors of Policy.Validate.
	ErrInvalidPolicy = errors.New("retention: invalid policy")
)

// Policy says which snapshots to keep, with the rules of restic's
// forget command; a snapshot is kept when any rule keeps it.
//
// A count rule (Last, Hourly, Daily, Weekly, Monthly, Yearly) keeps the
// newest snapshot of each of the newest N periods that have snapshots,
// and the oldest snapshot while it has counts left: N = 0 disables the
// rule, -1 keeps one for every period. Last counts snapshots rather
// than periods. Within keeps every snapshot newer than
// the newest snapshot minus the duration; WithinHourly to WithinYearly
// keep the newest snapshot of each period inside their window. Tags
// keeps every snapshot that has all the tags of any one of its lists.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int

	Within, WithinHourly, WithinDaily, WithinWeekly, WithinMonthly, WithinYearly Duration

	Tags [][]string
}

// GFS returns the grandfather-father-son preset: the newest snapshot of
// each of the newest 7 days, 4 ISO weeks and 12 months that have
// snapshots, and of every year.
func GFS() Policy {
	return Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: -1}
}

// Empty reports whether p has no rule at all. Apply refuses an empty
// policy with ErrEmptyPolicy.
func (p Policy) Empty() bool {
	for _, r := range p.rules() {
		if r.count != 0 || !r.within.IsZero() {
			return false
		}
	}
	return len(p.Tags) == 0
}

// Validate checks p before use: ErrEmptyPolicy when it has no rule,
// otherwise an error wrapping ErrInvalidPolicy that names the field and
// the rule it breaks, or nil.
func (p Policy) Validate() error {
	if p.Empty() {
		return ErrEmptyPolicy
	}
	for _, r := range p.rules() {
		if r.count < -1 {
			return fmt.Errorf("%w: %s is %d (want -1 for unlimited, 0 for none, or a count)", ErrInvalidPolicy, r.field, r.count)
		}
		if err := r.within.validate(); err != nil {
			return fmt.Errorf("%w: %s.%w", ErrInvalidPolicy, r.field, err)
		}
	}
	for i, list := range p.Tags {
		if len(list) == 0 {
			return fmt.Errorf("%w: Tags[%d] is empty (it would match every snapshot)", ErrInvalidPolicy, i)
		}
		for j, tag := range list {
			if tag == "" {
				return fmt.Errorf("%w: Tags[%d][%d] is an empty tag", ErrInvalidPolicy, i, j)
			}
		}
	}
	return nil
}

// ruleSpec is one count or within rule of a policy, as configured.
type ruleSpec struct {
	field  string   // the Policy field, for errors
	count  int      // a count rule's count
	within Duration // a within rule's window
	period period
	reason string
}

// rules lists p's count and within rules in restic's order, which is
// the order their reasons are reported in: Within, the count rules,
// then the within-period rules.
func (p Policy) rules() []ruleSpec {
	return []ruleSpec{
		{field: "Within", within: p.Within, period: perSnapshot, reason: "within"},
		{field: "Last", count: p.Last, period: perSnapshot, reason: "last snapshot"},
		{field: "Hourly", count: p.Hourly, period: perHour, reason: "hourly snapshot"},
		{field: "Daily", count: p.Daily, period: perDay, reason: "daily snapshot"},
		{field: "Weekly", count: p.Weekly, period: perWeek, reason: "weekly snapshot"},
		{field: "Monthly", count: p.Monthly, period: perMonth, reason: "monthly snapshot"},
		{field: "Yearly", count: p.Yearly, period: perYear, reason: "yearly snapshot"},
		{field: "WithinHourly", within: p.WithinHourly, period: perHour, reason: "hourly within"},
		{field: "WithinDaily", within: p.WithinDaily, period: perDay, reason: "daily within"},
		{field: "WithinWeekly", within: p.WithinWeekly, period: perWeek, reason: "weekly within"},
		{field: "WithinMonthly", within: p.WithinMonthly, period: perMonth, reason: "monthly within"},
		{field: "WithinYearly", within: p.WithinYearly, period: perYear, reason: "yearly within"},
	}
}
