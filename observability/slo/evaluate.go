package slo

import (
	"fmt"
	"sort"
	"time"
)

// Sample is one reading of two cumulative counters, as Prometheus scrapes
// them or an OpenTelemetry cumulative sum reports them: all events so far
// and the bad ones among them. For a latency SLI, Bad is the events slower
// than the threshold (the histogram's count minus its bucket).
type Sample struct {
	At         time.Time
	Total, Bad float64
}

// Alert is a Policy entry that fires, with the burn rates that make it
// fire.
type Alert struct {
	Window
	// LongBurn and ShortBurn are the burn rates over Window.Long and
	// Window.Short, both above Window.Factor.
	LongBurn, ShortBurn float64
}

// Budget is the error budget over an SLO's period.
type Budget struct {
	// Total and Bad are the events, and the bad events, in the period.
	Total, Bad float64
	// Allowed is the bad events the objective allows: (1 - Objective) *
	// Total.
	Allowed float64
	// Remaining is the fraction of the budget left, 1 - Bad/Allowed: 1
	// untouched (and with no events), 0 spent, below 0 overspent.
	Remaining float64
}

// Alerts returns the entries of policy (nil: DefaultPolicy) that fire at
// now, in policy order: those whose burn rate is above the factor over
// both of their windows. An entry fires exactly when the rule
// PrometheusRules writes for it would, given the same error ratios. It is
// a pure function of its arguments.
//
// samples must be in time order; see BurnRate for how windows read them.
func (s SLO) Alerts(samples []Sample, now time.Time, policy Policy) ([]Alert, error) {
	policy = policy.orDefault()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	series, err := newSeries(samples)
	if err != nil {
		return nil, err
	}
	var alerts []Alert
	for _, w := range policy {
		limit := w.Factor * s.budget() // as the Prometheus rule computes it
		long, short := series.errorRatio(now, w.Long), series.errorRatio(now, w.Short)
		if long > limit && short > limit {
			alerts = append(alerts, Alert{Window: w, LongBurn: long / s.budget(), ShortBurn: short / s.budget()})
		}
	}
	return alerts, nil
}

// BurnRate returns how many times faster than the objective allows the
// error budget was spent over the window that ends at now: the error
// ratio (bad events / events) over the window divided by 1 - Objective.
// A window without events burns nothing: 0.
//
// A window reads the latest sample at or before each of its ends, now -
// window and now, and counts the increase between them. Samples after now
// are ignored; if none is at or before the start, the window starts at
// the first sample (the series began inside it). A counter that
// decreases was reset (its process restarted and counts from zero again):
// the increase across that step is the new sample's value, as in
// Prometheus's increase(). Because Total and Bad restart together, a step
// where either decreases is a reset of both. Unlike increase(), nothing
// is extrapolated to the window's ends, so results are exact for the
// samples given.
func (s SLO) BurnRate(samples []Sample, now time.Time, window time.Duration) (float64, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: window is %v; it must be positive", ErrInvalid, window)
	}
	series, err := newSeries(samples)
	if err != nil {
		return 0, err
	}
	return series.errorRatio(now, window) / s.budget(), nil
}

// Budget returns the error budget over the period that ends at now,
// reading samples as BurnRate does.
func (s SLO) Budget(samples []Sample, now time.Time) (Budget, error) {
	if err := s.Validate(); err != nil {
		return Budget{}, err
	}
	series, err := newSeries(samples)
	if err != nil {
		return Budget{}, err
	}
	total, bad := series.increase(now, s.period())
	b := Budget{Total: total, Bad: bad, Allowed: total * s.budget(), Remaining: 1}
	if total > 0 {
		b.Remaining = 1 - bad/b.Allowed
	}
	return b, nil
}

// series is samples with counter resets taken out: each sample's Total
// and Bad are the events counted since the first sample, so the increase
// over a window is a difference of two samples.
type series []Sample

// newSeries checks samples and takes out their counter resets.
func newSeries(samples []Sample) (series, error) {
	out := make(series, len(samples))
	for i, c := range samples {
		if !finite(c.Total) || !finite(c.Bad) || c.Total < 0 || c.Bad < 0 || c.Bad > c.Total {
			return nil, fmt.Errorf("%w: samples[%d] has Total %v and Bad %v; they must be finite with 0 <= Bad <= Total", ErrInvalidSamples, i, c.Total, c.Bad)
		}
		if i == 0 {
			out[0] = Sample{At: c.At}
			continue
		}
		prev := samples[i-1]
		if c.At.Before(prev.At) {
			return nil, fmt.Errorf("%w: samples[%d] at %v is before samples[%d] at %v; they must be in time order", ErrInvalidSamples, i, c.At, i-1, prev.At)
		}
		total, bad := c.Total-prev.Total, c.Bad-prev.Bad
		if total < 0 || bad < 0 { // a reset: the counters start again from zero
			total, bad = c.Total, c.Bad
		}
		out[i] = Sample{At: c.At, Total: out[i-1].Total + total, Bad: out[i-1].Bad + bad}
	}
	return out, nil
}

// latest returns the index of the last sample at or before t, or -1.
func (s series) latest(t time.Time) int {
	return sort.Search(len(s), func(i int) bool { return s[i].At.After(t) }) - 1
}

// increase returns the events and bad events in the window of length w
// that ends at now.
func (s series) increase(now time.Time, w time.Duration) (total, bad float64) {
	end := s.latest(now)
	if end < 0 {
		return 0, 0
	}
	start := max(s.latest(now.Add(-w)), 0)
	return s[end].Total - s[start].Total, s[end].Bad - s[start].Bad
}

// errorRatio returns bad events / events over the window of length w that
// ends at now, 0 without events.
func (s series) errorRatio(now time.Time, w time.Duration) float64 {
	total, bad := s.increase(now, w)
	if total <= 0 {
		return 0
	}
	return bad / total
}
