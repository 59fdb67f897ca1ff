package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		23456789 * time.Nanosecond:                        "23ms",
		1234567890 * time.Nanosecond:                      "1.2s",
		59*time.Second + 940*time.Millisecond:             "59.9s",
		time.Hour + 2*time.Minute + 3400*time.Millisecond: "1h2m3s",
	} {
		assert.Equal(t, want, humanDuration(d), d.String())
	}
}

func TestBarChart(t *testing.T) {
	labels := []string{"00:00", "01:00", "02:00", "03:00"}
	c := barChart("c", "Rate", labels, 1, percent,
		series{Name: "ok", Color: "#0f0", Values: []float64{math.NaN(), 0, 0.5, 1}},
		series{Name: "slow", Color: "#00f", Values: []float64{math.NaN(), math.NaN(), math.NaN(), 2}})
	plotH := c.Bottom - chartTop
	require.Len(t, c.Bars, 4, "a bar for each value, none for NaN")
	zero, half, full, over := c.Bars[0], c.Bars[1], c.Bars[2], c.Bars[3]
	assert.Equal(t, "01:00 · ok: 0%", zero.Title)
	assert.Equal(t, 1.0, zero.H, "a zero is a bar a pixel high")
	assert.InDelta(t, plotH/2, half.H, 0.1)
	assert.InDelta(t, c.Bottom, half.Y+half.H, 0.1, "bars stand on the x axis")
	assert.Equal(t, "03:00 · ok: 100%", full.Title)
	assert.InDelta(t, chartTop, full.Y, 0.1, "the top value reaches the top")
	assert.Equal(t, "#00f", over.Color)
	assert.InDelta(t, plotH, over.H, 0.1, "a value past the top is cut at the top")
	assert.InDelta(t, full.X+full.W, over.X, 0.1, "a bucket's bars stand side by side")
	assert.Greater(t, half.X, zero.X)
	assert.LessOrEqual(t, over.X+over.W, c.Right)

	assert.Equal(t, []chartTick{{At: c.Bottom, Label: "0%"}, {At: chartTop, Label: "100%"}}, c.YTicks)
	require.NotEmpty(t, c.XTicks)
	assert.Equal(t, "03:00", c.XTicks[0].Label, "the latest bucket is labelled")
	assert.Equal(t, "Rate", c.Title)

	day := make([]string, 24)
	for i := range day {
		day[i] = time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC).Format("15:04")
	}
	ticks := barChart("d", "Day", day, 1, percent, series{Values: make([]float64, 24)}).XTicks
	assert.LessOrEqual(t, len(ticks), chartXTicks)
	var names []string
	for _, tick := range ticks {
		names = append(names, tick.Label)
	}
	assert.Equal(t, []string{"23:00", "19:00", "15:00", "11:00", "07:00", "03:00"}, names)
}

func TestNiceCeil(t *testing.T) {
	for x, want := range map[float64]float64{-1: 1, 0: 1, 0.7: 1, 1: 1, 1.2: 2, 3: 5, 7: 10, 120e6: 200e6} {
		assert.Equal(t, want, niceCeil(x), "%v", x)
	}
}

func TestPercent(t *testing.T) {
	for share, want := range map[float64]string{0: "0%", 0.5: "50%", 0.625: "62.5%", 1.0 / 3: "33.3%", 0.995: "99.5%", 1: "100%"} {
		assert.Equal(t, want, percent(share), "%v", share)
	}
}

// TestRolloutOf reads what the console shows of a flag: a progressive
// rollout to a ring, as RolloutFlag writes it and the flag store keeps
// it (JSON), and an experiment's split between three variants.
func TestRolloutOf(t *testing.T) {
	t1, t2 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
	flag, err := flags.RolloutFlag(flags.Rollout{Ring: "beta", Percent: 10, Steps: []flags.Step{{At: t1, Percent: 50}, {At: t2, Percent: 100}}})
	require.NoError(t, err)
	var stored flags.Flag
	data, err := json.Marshal(flag)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &stored))

	ro := rolloutOf(stored.Targeting)
	assert.Equal(t, []string{"ring:beta"}, ro.refs)
	require.Len(t, ro.splits, 3)
	var from []time.Time
	var labels []string
	for _, s := range ro.splits {
		from, labels = append(from, s.From), append(labels, s.Label())
	}
	assert.Equal(t, []time.Time{{}, t1, t2}, from, "the base split, then the steps in time order")
	assert.Equal(t, []string{"on 10% · off 90%", "on 50% · off 50%", "on 100% · off 0%"}, labels)
	p, ok := ro.onPercent()
	assert.True(t, ok)
	assert.Equal(t, 10, p)
	on, off := ro.splits[1].Shares[0], ro.splits[1].Shares[1]
	assert.Equal(t, share{Variant: "on", Percent: 50, X: 0, Color: splitColors[0]}, on)
	assert.Equal(t, share{Variant: "off", Percent: 50, X: 50, Color: splitColors[1]}, off)

	var experiment any
	require.NoError(t, json.Unmarshal([]byte(`{"if": [{"$ref": "paying"}, {"fractional": [["a", 1], ["b", 3], ["c", -2]]}, {"fractional": [["x"], ["y"]]}]}`), &experiment))
	ro = rolloutOf(experiment)
	assert.Equal(t, []string{"paying"}, ro.refs)
	require.Len(t, ro.splits, 2)
	assert.Equal(t, "a 25% · b 75% · c 0%", ro.splits[0].Label(), "weights are relative; a negative one counts as 0")
	assert.Equal(t, "x 50% · y 50%", ro.splits[1].Label(), "a weight defaults to 1")
	_, ok = ro.onPercent()
	assert.False(t, ok, "no on/off split to set")

	for _, rule := range []string{
		`{"fractional": [[{"var": "variant"}, 1]]}`, // a variant that is a rule
		`{"fractional": [["a", 0], ["b", 0]]}`,      // no weight at all
		`{"fractional": "a"}`,
		`{"fractional": [[]]}`,
	} {
		var targeting any
		require.NoError(t, json.Unmarshal([]byte(rule), &targeting))
		assert.Empty(t, rolloutOf(targeting).splits, rule)
	}
}
