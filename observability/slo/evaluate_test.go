package slo_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/observability/slo"
)

const day = 24 * time.Hour

var (
	t0       = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	checkout = slo.SLO{Name: "checkout", Objective: 0.999}
)

// traffic builds a series of cumulative counters from t0.
type traffic struct{ samples []slo.Sample }

func newTraffic() *traffic { return &traffic{samples: []slo.Sample{{At: t0}}} }

// add appends n samples step apart, each counting events more events of
// which bad are bad.
func (tr *traffic) add(n int, step time.Duration, events, bad float64) *traffic {
	last := tr.samples[len(tr.samples)-1]
	for range n {
		last = slo.Sample{At: last.At.Add(step), Total: last.Total + events, Bad: last.Bad + bad}
		tr.samples = append(tr.samples, last)
	}
	return tr
}

// end is the time of the last sample.
func (tr *traffic) end() time.Time { return tr.samples[len(tr.samples)-1].At }

// firing returns the long windows of the default policy's alerts that
// fire at now.
func firing(t *testing.T, s slo.SLO, samples []slo.Sample, now time.Time) []time.Duration {
	t.Helper()
	alerts, err := s.Alerts(samples, now, nil)
	require.NoError(t, err)
	var longs []time.Duration
	for _, a := range alerts {
		longs = append(longs, a.Long)
	}
	return longs
}

// until returns how long after from the alert with the given long window
// first fires (fire) or first stops firing (!fire), trying each minute.
func until(t *testing.T, s slo.SLO, samples []slo.Sample, from time.Time, long time.Duration, fire bool) time.Duration {
	t.Helper()
	for now := from; !now.After(samples[len(samples)-1].At); now = now.Add(time.Minute) {
		if contains(firing(t, s, samples, now), long) == fire {
			return now.Sub(from)
		}
	}
	t.Fatalf("the %v alert never reached firing=%v", long, fire)
	return 0
}

func contains(ws []time.Duration, w time.Duration) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

func TestDefaultPolicy(t *testing.T) {
	assert.Equal(t, slo.Policy{
		{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: slo.Page},
		{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, Severity: slo.Page},
		{Long: 3 * day, Short: 6 * time.Hour, Factor: 1, Severity: slo.Ticket},
	}, slo.DefaultPolicy())
}

// 0.1% errors against 99.9% spend the budget exactly as fast as the
// objective allows: a burn rate of 1, which is not above any factor, so
// nothing fires, not even the ticket.
func TestSteadyBurnAtOneFiresNothing(t *testing.T) {
	tr := newTraffic().add(4*24*60, time.Minute, 1000, 1)
	for now := t0; !now.After(tr.end()); now = now.Add(10 * time.Minute) {
		require.Empty(t, firing(t, checkout, tr.samples, now), "at %v", now.Sub(t0))
	}
	for _, w := range []time.Duration{5 * time.Minute, time.Hour, 3 * day} {
		burn, err := checkout.BurnRate(tr.samples, tr.end(), w)
		require.NoError(t, err)
		assert.InDelta(t, 1, burn, 1e-9, "over %v", w)
	}

	// 1 - 0.999 is not exactly 0.001 in floating point; with a budget that
	// is exact (1/8), a burn rate of exactly 1 still does not fire, and a
	// little more does.
	exact := slo.SLO{Name: "exact", Objective: 0.875}
	tr = newTraffic().add(4*24*60, time.Minute, 1000, 125)
	burn, err := exact.BurnRate(tr.samples, tr.end(), 3*day)
	require.NoError(t, err)
	assert.Equal(t, 1.0, burn)
	assert.Empty(t, firing(t, exact, tr.samples, tr.end()))
	tr.add(1, time.Minute, 1000, 126)
	assert.Equal(t, []time.Duration{3 * day}, firing(t, exact, tr.samples, tr.end()))
}

// A burn at 2x after three clean days, sampled every 10 minutes: the 6h
// window is above 1 after 3h but the 3d window only after 36h (2 * 216
// samples of 432 is exactly 1, so 217 samples: 36h10m), and the ticket
// needs both. When the burn stops the 3d window stays high for days, but
// the ticket resolves once the 6h window drops back to 1: after 3 hours.
func TestTicketNeedsBothWindows(t *testing.T) {
	tr := newTraffic().add(3*24*6, 10*time.Minute, 10000, 0)
	burnStart := tr.end()
	tr.add(40*6, 10*time.Minute, 10000, 20)
	burnEnd := tr.end()
	tr.add(10*6, 10*time.Minute, 10000, 0)

	sixHours, err := checkout.BurnRate(tr.samples, burnStart.Add(6*time.Hour), 6*time.Hour)
	require.NoError(t, err)
	assert.InDelta(t, 2, sixHours, 1e-9)
	assert.Equal(t, 36*time.Hour+10*time.Minute, until(t, checkout, tr.samples, burnStart, 3*day, true))
	assert.Equal(t, 3*time.Hour, until(t, checkout, tr.samples, burnEnd, 3*day, false))

	alerts, err := checkout.Alerts(tr.samples, burnEnd, nil)
	require.NoError(t, err)
	require.Len(t, alerts, 1, "2x pages nobody")
	assert.Equal(t, slo.Ticket, alerts[0].Severity)
	assert.InDelta(t, 2, alerts[0].ShortBurn, 1e-9)
	assert.InDelta(t, 2*40/(3*24.0), alerts[0].LongBurn, 1e-9)
}

// A full outage after three days at 0.1% errors, sampled each minute.
// One minute in, the 1h ratio is (1000 + 59) / 60000 = 1.77% > 1.44%
// and the 5m ratio 20%: the fast page fires, and so does the ticket.
// The 6h ratio is then (1000 + 359) / 360000 = 0.38% < 0.6%; two minutes
// in it is 0.65%, and the 6h/30m page fires too. After ten minutes the
// outage ends: each page resolves when its short window has forgotten
// it (5 and 30 minutes later), long before its long window does; the
// ticket after 6 hours.
func TestOutage(t *testing.T) {
	tr := newTraffic().add(3*24*60, time.Minute, 1000, 1)
	start := tr.end()
	tr.add(10, time.Minute, 1000, 1000)
	end := tr.end()
	tr.add(7*60, time.Minute, 1000, 1)

	fast, slow, ticket := time.Hour, 6*time.Hour, 3*day
	for _, c := range []struct {
		at   time.Time
		want []time.Duration
	}{
		{start, nil},
		{start.Add(time.Minute), []time.Duration{fast, ticket}},
		{start.Add(2 * time.Minute), []time.Duration{fast, slow, ticket}},
		{end, []time.Duration{fast, slow, ticket}},
		{end.Add(4 * time.Minute), []time.Duration{fast, slow, ticket}},
		{end.Add(5 * time.Minute), []time.Duration{slow, ticket}},
		{end.Add(29 * time.Minute), []time.Duration{slow, ticket}},
		{end.Add(30 * time.Minute), []time.Duration{ticket}},
		{end.Add(6*time.Hour - time.Minute), []time.Duration{ticket}},
		{end.Add(6 * time.Hour), nil},
	} {
		assert.Equal(t, c.want, firing(t, checkout, tr.samples, c.at), "at %v", c.at.Sub(start))
	}

	// The long window still remembers the outage when the page resolves.
	burn, err := checkout.BurnRate(tr.samples, end.Add(5*time.Minute), time.Hour)
	require.NoError(t, err)
	assert.Greater(t, burn, 14.4)

	alerts, err := checkout.Alerts(tr.samples, start.Add(time.Minute), nil)
	require.NoError(t, err)
	require.Len(t, alerts, 2)
	assert.Equal(t, slo.DefaultPolicy()[0], alerts[0].Window)
	assert.InDelta(t, 1059.0/60000/0.001, alerts[0].LongBurn, 1e-9)
	assert.InDelta(t, 1004.0/5000/0.001, alerts[0].ShortBurn, 1e-9)
}

// Scraped every 15 seconds, the 1h ratio of the same outage passes 1.44%
// after 48.3 seconds ((0.999 t + 3.6) / 3600 > 0.0144), so the page fires
// with the sample at 60 seconds and not the one at 45. (The ticket fires
// with the first sample of the outage.)
func TestOutageScrapedEvery15s(t *testing.T) {
	tr := newTraffic().add(6*60*4, 15*time.Second, 250, 0.25)
	start := tr.end()
	tr.add(8, 15*time.Second, 250, 250)
	assert.Equal(t, []time.Duration{3 * day}, firing(t, checkout, tr.samples, start.Add(45*time.Second)))
	assert.Equal(t, []time.Duration{time.Hour, 3 * day}, firing(t, checkout, tr.samples, start.Add(60*time.Second)))
}

// 0.7% errors, 7 times the budget, after three days at 0.1%: the fast
// page never fires (7 < 14.4); the 6h/30m page fires once the 6h ratio
// (6k + 360) / 360000 passes 0.6%, at k = 301 minutes.
func TestSlowBurnPages(t *testing.T) {
	tr := newTraffic().add(3*24*60, time.Minute, 1000, 1)
	start := tr.end()
	tr.add(8*60, time.Minute, 1000, 7)
	assert.Equal(t, 5*time.Hour+time.Minute, until(t, checkout, tr.samples, start, 6*time.Hour, true))

	alerts, err := checkout.Alerts(tr.samples, start.Add(301*time.Minute), nil)
	require.NoError(t, err)
	require.Len(t, alerts, 2)
	assert.Equal(t, slo.Window{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, Severity: slo.Page}, alerts[0].Window)
	assert.InDelta(t, (6*301+360)/360.0, alerts[0].LongBurn, 1e-9)
	assert.InDelta(t, 7, alerts[0].ShortBurn, 1e-9)
	assert.Equal(t, slo.Ticket, alerts[1].Severity)
	for now := start; now.Before(tr.end()); now = now.Add(time.Minute) {
		require.NotContains(t, firing(t, checkout, tr.samples, now), time.Hour, "at %v", now.Sub(start))
	}
}

// A restart drops the counters to zero mid-outage; every window reads as
// if it had not happened.
func TestCounterReset(t *testing.T) {
	tr := newTraffic().add(3*24*60, time.Minute, 1000, 1)
	start := tr.end()
	tr.add(10, time.Minute, 1000, 1000).add(60, time.Minute, 1000, 1)

	restart := len(tr.samples) - 65 // 6 minutes into the outage
	reset := append([]slo.Sample(nil), tr.samples...)
	base := tr.samples[restart-1]
	for i := restart; i < len(reset); i++ {
		reset[i].Total -= base.Total
		reset[i].Bad -= base.Bad
	}
	require.Less(t, reset[restart].Total, reset[restart-1].Total)

	for now := start; !now.After(tr.end()); now = now.Add(time.Minute) {
		want, err := checkout.Alerts(tr.samples, now, nil)
		require.NoError(t, err)
		got, err := checkout.Alerts(reset, now, nil)
		require.NoError(t, err)
		require.Equal(t, want, got, "at %v", now.Sub(start))
	}
	want, err := checkout.Budget(tr.samples, tr.end())
	require.NoError(t, err)
	got, err := checkout.Budget(reset, tr.end())
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// A step where only Bad decreases is a reset of both counters: the
// restarted process counted 1500 events, 3 of them bad, since the last
// sample.
func TestResetOfEitherCounter(t *testing.T) {
	samples := []slo.Sample{{At: t0, Total: 0, Bad: 0}, {At: t0.Add(time.Minute), Total: 1000, Bad: 10}, {At: t0.Add(2 * time.Minute), Total: 1500, Bad: 3}}
	burn, err := checkout.BurnRate(samples, t0.Add(2*time.Minute), time.Minute)
	require.NoError(t, err)
	assert.InDelta(t, 3.0/1500/0.001, burn, 1e-9)
}

// Windows read the latest sample at or before each end: a gap widens a
// window back to the sample before it, and data that stopped burns
// nothing.
func TestMissingData(t *testing.T) {
	samples := []slo.Sample{{At: t0, Total: 0, Bad: 0}, {At: t0.Add(time.Hour), Total: 60000, Bad: 600}}
	burn, err := checkout.BurnRate(samples, t0.Add(time.Hour), 5*time.Minute)
	require.NoError(t, err)
	assert.InDelta(t, 10, burn, 1e-9, "the 5m window starts at the sample an hour before")

	tr := newTraffic().add(60, time.Minute, 1000, 1000) // an outage, then silence
	assert.Contains(t, firing(t, checkout, tr.samples, tr.end()), time.Hour)
	assert.NotContains(t, firing(t, checkout, tr.samples, tr.end().Add(5*time.Minute)), time.Hour, "no samples in the 5m window")
	assert.Empty(t, firing(t, checkout, tr.samples, tr.end().Add(6*time.Hour)), "no samples in any short window")
	burn, err = checkout.BurnRate(tr.samples, tr.end().Add(2*time.Hour), time.Hour)
	require.NoError(t, err)
	assert.Zero(t, burn)

	// Traffic without events burns nothing.
	idle := newTraffic().add(120, time.Minute, 0, 0)
	assert.Empty(t, firing(t, checkout, idle.samples, idle.end()))

	// A series younger than a window is read from its first sample.
	young := newTraffic().add(10, time.Minute, 1000, 10)
	burn, err = checkout.BurnRate(young.samples, young.end(), 3*day)
	require.NoError(t, err)
	assert.InDelta(t, 10, burn, 1e-9)

	// Samples after now are ignored, and so is a series that starts after it.
	burn, err = checkout.BurnRate(young.samples, t0.Add(-time.Minute), time.Hour)
	require.NoError(t, err)
	assert.Zero(t, burn)
}

func TestEmptyAndSingleSample(t *testing.T) {
	for name, samples := range map[string][]slo.Sample{
		"nil":    nil,
		"single": {{At: t0, Total: 5000, Bad: 5000}},
	} {
		t.Run(name, func(t *testing.T) {
			alerts, err := checkout.Alerts(samples, t0, nil)
			require.NoError(t, err)
			assert.Empty(t, alerts)
			burn, err := checkout.BurnRate(samples, t0, time.Hour)
			require.NoError(t, err)
			assert.Zero(t, burn)
			budget, err := checkout.Budget(samples, t0)
			require.NoError(t, err)
			assert.Equal(t, slo.Budget{Remaining: 1}, budget)
		})
	}
}

// A latency SLI, 99% of requests within 300ms, evaluated on counts taken
// from a histogram: Bad is its count minus its 0.3 bucket. After a day
// with 0.5% slow requests, 20% become slow: the 1h ratio
// (200k + 5(60 - k)) / 60000 passes 14.4% at k = 43 minutes.
func TestLatencySLI(t *testing.T) {
	fast := slo.SLO{Name: "checkout_latency", Objective: 0.99, SLI: slo.SLI{Latency: 300 * time.Millisecond}}
	var samples []slo.Sample
	count, bucket := 0.0, 0.0
	for m := range 24*60 + 2*60 + 1 {
		slow := 5.0
		if m > 24*60 {
			slow = 200
		}
		if m > 0 {
			count += 1000
			bucket += 1000 - slow
		}
		samples = append(samples, slo.Sample{At: t0.Add(time.Duration(m) * time.Minute), Total: count, Bad: count - bucket})
	}
	assert.Equal(t, 43*time.Minute, until(t, fast, samples, t0.Add(day), time.Hour, true))

	burn, err := fast.BurnRate(samples, t0.Add(day), day)
	require.NoError(t, err)
	assert.InDelta(t, 0.5, burn, 1e-9)
}

// Over a 30-day period at 1000 requests a minute, the objective allows
// 43200 bad requests; 10 hours at 3% errors spend 18000 of them, until
// they leave the period.
func TestBudget(t *testing.T) {
	tr := newTraffic().add(10*24, time.Hour, 60000, 0)
	incident := tr.end()
	tr.add(10, time.Hour, 60000, 1800).add(40*24, time.Hour, 60000, 0)

	b, err := checkout.Budget(tr.samples, incident.Add(20*day))
	require.NoError(t, err)
	assert.Equal(t, 30*24*60000.0, b.Total)
	assert.Equal(t, 18000.0, b.Bad)
	assert.InDelta(t, 43200, b.Allowed, 1e-6)
	assert.InDelta(t, 1-18000.0/43200, b.Remaining, 1e-9)

	b, err = checkout.Budget(tr.samples, incident.Add(30*day+10*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, b.Bad)
	assert.Equal(t, 1.0, b.Remaining)

	weekly := checkout
	weekly.Period = 7 * day
	b, err = weekly.Budget(tr.samples, incident.Add(10*time.Hour))
	require.NoError(t, err)
	assert.InDelta(t, 1-18000/(7*24*60000*0.001), b.Remaining, 1e-9)
	assert.Negative(t, b.Remaining, "a week's budget is overspent")
}

func TestInvalidSamples(t *testing.T) {
	for name, samples := range map[string][]slo.Sample{
		"out of order":  {{At: t0.Add(time.Minute)}, {At: t0}},
		"negative":      {{At: t0, Total: -1}},
		"NaN":           {{At: t0, Total: math.NaN()}},
		"infinite":      {{At: t0, Total: math.Inf(1), Bad: 1}},
		"bad above all": {{At: t0, Total: 1, Bad: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := checkout.Alerts(samples, t0, nil)
			assert.ErrorIs(t, err, slo.ErrInvalidSamples)
			_, err = checkout.BurnRate(samples, t0, time.Hour)
			assert.ErrorIs(t, err, slo.ErrInvalidSamples)
			_, err = checkout.Budget(samples, t0)
			assert.ErrorIs(t, err, slo.ErrInvalidSamples)
		})
	}
	_, err := checkout.BurnRate(nil, t0, 0)
	assert.ErrorIs(t, err, slo.ErrInvalid)
}

// A custom policy replaces the default one entirely.
func TestCustomPolicy(t *testing.T) {
	tr := newTraffic().add(120, time.Minute, 1000, 3)
	policy := slo.Policy{{Long: 2 * time.Hour, Short: 10 * time.Minute, Factor: 2, Severity: "warning"}}
	alerts, err := checkout.Alerts(tr.samples, tr.end(), policy)
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	assert.Equal(t, policy[0], alerts[0].Window)
	assert.InDelta(t, 3, alerts[0].LongBurn, 1e-9)
}
