package slo

import (
	"fmt"
	"time"
)

// Severity says who an alert goes to.
type Severity string

// Severities of DefaultPolicy. Any non-empty string will do in a Policy;
// it becomes the alert's severity label.
const (
	// Page wakes someone up: the budget burns fast enough to be gone in
	// days.
	Page Severity = "page"
	// Ticket is for working hours: the budget will be gone before the
	// period ends.
	Ticket Severity = "ticket"
)

// Window is one alert of a Policy: it fires while the burn rate is above
// Factor over both the Long and the Short window. The long window says
// the budget has really been spent; the short one says it is still being
// spent, so the alert resolves soon after the trouble ends rather than
// when the long window forgets it.
type Window struct {
	// Long and Short are the two windows, both ending now: Short shorter
	// than Long, both whole milliseconds.
	Long, Short time.Duration
	// Factor is the burn rate to exceed: how many times faster than the
	// objective allows the budget is spent. 1 spends exactly the budget
	// over the period.
	Factor   float64
	Severity Severity
}

// Policy is a list of alerts. nil (or empty) means DefaultPolicy.
type Policy []Window

// DefaultPolicy returns the policy the Google SRE Workbook recommends for
// a 30-day objective: page on 2% of the budget spent in an hour, page on
// 5% in six hours, ticket on 10% in three days.
func DefaultPolicy() Policy {
	return Policy{
		{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: Page},
		{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, Severity: Page},
		{Long: 3 * 24 * time.Hour, Short: 6 * time.Hour, Factor: 1, Severity: Ticket},
	}
}

// orDefault returns p, or DefaultPolicy if p is empty.
func (p Policy) orDefault() Policy {
	if len(p) == 0 {
		return DefaultPolicy()
	}
	return p
}

// Validate reports the first rule p breaks, wrapping ErrInvalid. Windows
// are whole milliseconds (Prometheus durations), the short window shorter
// than the long one, and no two entries the same alert (same windows and
// severity). An empty policy is valid: it means DefaultPolicy.
func (p Policy) Validate() error {
	type alert struct {
		long, short time.Duration
		severity    Severity
	}
	seen := make(map[alert]int, len(p))
	for i, w := range p {
		switch {
		case w.Long <= 0 || w.Long%time.Millisecond != 0:
			return fmt.Errorf("%w: Policy[%d].Long is %v; it must be a positive whole number of milliseconds", ErrInvalid, i, w.Long)
		case w.Short <= 0 || w.Short%time.Millisecond != 0:
			return fmt.Errorf("%w: Policy[%d].Short is %v; it must be a positive whole number of milliseconds", ErrInvalid, i, w.Short)
		case w.Short >= w.Long:
			return fmt.Errorf("%w: Policy[%d].Short is %v; it must be shorter than Long (%v)", ErrInvalid, i, w.Short, w.Long)
		case !(w.Factor > 0) || !finite(w.Factor):
			return fmt.Errorf("%w: Policy[%d].Factor is %v; it must be positive and finite", ErrInvalid, i, w.Factor)
		case w.Severity == "":
			return fmt.Errorf("%w: Policy[%d].Severity is empty; it is required", ErrInvalid, i)
		}
		key := alert{w.Long, w.Short, w.Severity}
		if j, ok := seen[key]; ok {
			return fmt.Errorf("%w: Policy[%d] has the windows and severity of Policy[%d]; the two would be one alert", ErrInvalid, i, j)
		}
		seen[key] = i
	}
	return nil
}
