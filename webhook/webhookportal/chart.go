package webhookportal

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// Charts are drawn on the server as inline SVG (templates/chart.tmpl),
// so they need no script and pass the portal's Content-Security-Policy:
// SVG presentation attributes are not styles. Each bucket of time has a
// bar per series; a value of zero is a bar a pixel high, so a bucket
// with attempts never looks like one without. The SVG's <title> names
// the chart, each bar's <title> its bucket and value, and a table beside
// the charts holds the numbers for those who do not see them.

// period is a span of history the charts show.
type period struct {
	Name   string // the query value: "24h" or "7d"
	Label  string // for people: "last 24 hours"
	Per    string // the buckets: "per hour"
	width  time.Duration
	count  int
	layout string // of a bucket's label
}

var periods = []period{
	{Name: "24h", Label: "last 24 hours", Per: "per hour (UTC)", width: time.Hour, count: 24, layout: "15:04"},
	{Name: "7d", Label: "last 7 days", Per: "per 6 hours (UTC)", width: 6 * time.Hour, count: 28, layout: "Mon 15h"},
}

// periodOf reads the period query parameter; the last day by default.
func periodOf(r *http.Request) (period, error) {
	v := r.URL.Query().Get("period")
	if v == "" {
		return periods[0], nil
	}
	for _, p := range periods {
		if p.Name == v {
			return p, nil
		}
	}
	return period{}, badf("period must be 24h or 7d")
}

func (p period) window(now time.Time) webhook.AttemptWindow {
	return webhook.WindowEnding(now.UTC(), p.width, p.count)
}

// activity is a history of attempts, charted, with its numbers.
type activity struct {
	ID       string // "all" or "endpoint": tells the charts of a page apart
	Period   period
	Periods  []period
	Buckets  []webhook.AttemptBucket // those with attempts, oldest first
	Total    webhook.AttemptBucket   // all of the period's attempts (no latencies)
	Success  chart
	Latency  chart // no bars when no attempt sent a request
	Attempts bool  // whether there were any
}

// Rate is the share of the period's attempts that succeeded.
func (a activity) Rate() string { return rateOf(a.Total) }

func rateOf(b webhook.AttemptBucket) string {
	rate, ok := b.SuccessRate()
	if !ok {
		return "—"
	}
	return percent(rate)
}

// newActivity charts buckets; id tells the charts of one page apart.
func newActivity(id string, p period, buckets []webhook.AttemptBucket) activity {
	a := activity{ID: id, Period: p, Periods: periods}
	labels := make([]string, len(buckets))
	rates, p50, p95 := nanSeries(len(buckets)), nanSeries(len(buckets)), nanSeries(len(buckets))
	var slowest time.Duration
	for i, b := range buckets {
		labels[i] = b.Start.UTC().Format(p.layout)
		if rate, ok := b.SuccessRate(); ok {
			a.Buckets = append(a.Buckets, b)
			a.Total.Attempts += b.Attempts
			a.Total.Succeeded += b.Succeeded
			rates[i] = rate
		}
		if b.LatencyP95 > 0 {
			p50[i], p95[i] = float64(b.LatencyP50), float64(b.LatencyP95)
			slowest = max(slowest, b.LatencyP95)
		}
	}
	if a.Attempts = a.Total.Attempts > 0; !a.Attempts {
		return a
	}
	a.Success = drawBars(id+"-success", fmt.Sprintf("Success rate %s, %s: %d attempts, %s succeeded", p.Per, p.Label, a.Total.Attempts, a.Rate()),
		labels, 1, percent, bars{Name: "succeeded", Class: "s-ok", Values: rates})
	if slowest > 0 {
		a.Latency = drawBars(id+"-latency", "Latency "+p.Per+", "+p.Label+": median and 95th percentile",
			labels, axisTop(float64(slowest)), func(ns float64) string { return humanDuration(time.Duration(ns)) },
			bars{Name: "p50", Class: "s-p50", Values: p50}, bars{Name: "p95", Class: "s-p95", Values: p95})
	}
	return a
}

func nanSeries(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// The charts' size and margins, in SVG units.
const (
	svgWidth, svgHeight = 480, 140
	padLeft, padRight   = 54, 14
	padTop, padBottom   = 8, 20
	maxXLabels          = 6
)

// bars is one series of a chart: a value per bucket, NaN for none. Its
// class colours it (portal.css).
type bars struct {
	Name, Class string
	Values      []float64
}

// chart is a bar chart laid out for the "chart" template.
type chart struct {
	ID, Title     string
	Width, Height int
	X0, X1, Y0    float64 // the plot's left and right, and its baseline
	Bars          []bar
	YLabels       []label
	XLabels       []label
	Series        []bars
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type label struct {
	At   float64
	Text string
}

// drawBars lays the series out over buckets named by names, the y axis
// from 0 to top; format writes a value for people.
func drawBars(id, title string, names []string, top float64, format func(float64) string, series ...bars) chart {
	c := chart{ID: id, Title: title, Width: svgWidth, Height: svgHeight, X0: padLeft, X1: svgWidth - padRight,
		Y0: svgHeight - padBottom, Series: series}
	slot := (c.X1 - c.X0) / float64(max(len(names), 1))
	each := (slot - 2) / float64(max(len(series), 1))
	for i, name := range names {
		for j, s := range series {
			v := s.Values[i]
			if math.IsNaN(v) {
				continue
			}
			hgt := max((c.Y0-padTop)*min(v/top, 1), 1)
			c.Bars = append(c.Bars, bar{X: tenth(c.X0 + float64(i)*slot + 1 + float64(j)*each), Y: tenth(c.Y0 - hgt),
				W: tenth(each), H: tenth(hgt), Class: s.Class, Title: name + " · " + s.Name + ": " + format(v)})
		}
	}
	c.YLabels = []label{{At: c.Y0, Text: format(0)}, {At: padTop, Text: format(top)}}
	step := max((len(names)+maxXLabels-1)/maxXLabels, 1)
	for i := len(names) - 1; i >= 0; i -= step { // the latest, then every step-th before it
		c.XLabels = append(c.XLabels, label{At: tenth(c.X0 + (float64(i)+0.5)*slot), Text: names[i]})
	}
	return c
}

func tenth(x float64) float64 { return math.Round(x*10) / 10 }

// axisTop is the least of 1, 2 or 5 times a power of ten that is at
// least x: the top of a latency axis.
func axisTop(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// endpointHistory sums up the attempts made to one of the caller's
// endpoints in the buckets of w: Dispatcher.AttemptHistory for that
// endpoint, read through the attempt log's endpoint index.
func (h *Handler) endpointHistory(r *http.Request, c *caller, endpointID string, w webhook.AttemptWindow) ([]webhook.AttemptBucket, error) {
	w.EndpointID = endpointID
	return h.d.AttemptHistory(r.Context(), c.tenant, w)
}
