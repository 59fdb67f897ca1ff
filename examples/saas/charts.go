package main

import (
	"math"
	"strconv"
	"strings"
)

// Console charts are drawn on the server as inline SVG (the template
// "chart" in templates/console/chart.tmpl), so the pages still load no
// script: bars of one or more series side by side in each bucket, the y
// axis labelled at zero and at its top, the x axis at a few buckets, the
// latest among them. A value of zero is a bar a pixel high, so a bucket
// with a value never looks like one without. The
// SVG's <title> names the chart for screen readers, and each bar's
// <title> says its bucket and value.

// The chart's size and margins, in SVG units (pixels at scale 1).
const (
	chartWidth  = 480
	chartHeight = 130
	chartLeft   = 52 // the y axis labels
	chartRight  = 16 // half an x axis label
	chartTop    = 8
	chartBottom = 18 // the x axis labels
	chartXTicks = 6  // at most this many x labels
)

// series is one kind of bar in a chart: a value per bucket, NaN where
// there is none.
type series struct {
	Name   string
	Color  string
	Values []float64
}

// chart is a bar chart laid out for the "chart" template.
type chart struct {
	ID, Title     string
	Width, Height int
	Left, Bottom  float64 // where the axes meet
	Right         float64 // where the plot ends
	Bars          []chartBar
	YTicks        []chartTick // At is a y
	XTicks        []chartTick // At is an x
	Legend        []series    // the series' names and colours
}

// chartBar is one bar, in SVG coordinates.
type chartBar struct {
	X, Y, W, H float64
	Color      string
	Title      string // its bucket and value
}

// chartTick labels a place on an axis.
type chartTick struct {
	At    float64
	Label string
}

// barChart lays out the series over buckets labelled labels: top is the
// value at the top of the y axis, and format writes a value for people.
func barChart(id, title string, labels []string, top float64, format func(float64) string, ss ...series) chart {
	c := chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight,
		Left: chartLeft, Bottom: chartHeight - chartBottom, Right: chartWidth - chartRight, Legend: ss}
	plotW, plotH := c.Right-c.Left, c.Bottom-chartTop
	slot := plotW / float64(max(len(labels), 1))
	barW := (slot - 2) / float64(max(len(ss), 1))
	for i, label := range labels {
		for j, s := range ss {
			v := s.Values[i]
			if math.IsNaN(v) {
				continue
			}
			h := max(plotH*min(v/top, 1), 1) // a value of 0 still shows
			c.Bars = append(c.Bars, chartBar{
				X: round1(c.Left + float64(i)*slot + 1 + float64(j)*barW), Y: round1(c.Bottom - h),
				W: round1(barW), H: round1(h), Color: s.Color,
				Title: label + " · " + s.Name + ": " + format(v),
			})
		}
	}
	c.YTicks = []chartTick{{At: c.Bottom, Label: format(0)}, {At: chartTop, Label: format(top)}}
	// Label the last bucket (the latest), then every step-th before it.
	step := max((len(labels)+chartXTicks-1)/chartXTicks, 1)
	for i := len(labels) - 1; i >= 0; i -= step {
		c.XTicks = append(c.XTicks, chartTick{At: round1(c.Left + (float64(i)+0.5)*slot), Label: labels[i]})
	}
	return c
}

// round1 rounds to a tenth, enough for a pixel and short in the page.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// niceCeil is the least of 1, 2 or 5 times a power of ten that is at
// least x, for the top of an axis; 1 for x up to 0.
func niceCeil(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// percent writes a share (0 to 1) as a percentage with at most one
// decimal: "50%", "99.5%".
func percent(share float64) string {
	s := strconv.FormatFloat(100*share, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}
