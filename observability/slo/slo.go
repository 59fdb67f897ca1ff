package slo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors. Each is wrapped once with a message that names the field or the
// sample and the rule it breaks; test them with errors.Is.
var (
	// ErrInvalid: an SLO, a Policy or an argument breaks a rule.
	ErrInvalid = errors.New("slo: invalid")
	// ErrInvalidSamples: a series is out of time order, or a sample holds
	// a negative, NaN or infinite count, or more bad events than events.
	ErrInvalidSamples = errors.New("slo: invalid samples")
)

// DefaultPeriod is the period an SLO with no Period is measured over.
const DefaultPeriod = 30 * 24 * time.Hour

// Default PromQL selectors: OpenTelemetry's HTTP server duration histogram
// (http.server.request.duration, in seconds) as the Prometheus exporter
// and Prometheus's OTLP receiver name it.
const (
	defaultTotal      = "http_server_request_duration_seconds_count"
	defaultBad        = `http_server_request_duration_seconds_count{http_response_status_code=~"5.."}`
	defaultGoodMetric = "http_server_request_duration_seconds_bucket"
)

// SLO is a service level objective: the fraction of events that must be
// good over a rolling period, for example 99.9% of requests over 30 days.
type SLO struct {
	// Name identifies the SLO in the names of Prometheus rules and in their
	// slo label: letters, digits and underscores, not starting with a
	// digit. Required.
	Name string
	// Objective is the fraction of events that must be good, above 0 and
	// below 1 (0.999 is "three nines"). Required. 1 - Objective is the
	// error budget: the fraction of events allowed to be bad.
	Objective float64
	// Period is the rolling window the objective holds over. Default:
	// DefaultPeriod (30 days).
	Period time.Duration
	// SLI says which events are good. Default: availability of an HTTP
	// server instrumented with OpenTelemetry.
	SLI SLI
}

// SLI (service level indicator) says which events are good: a request
// that did not fail (availability, the default) or one that was fast
// enough (latency, when Latency is set).
//
// Evaluation in Go works on counts the caller supplies (Sample), so only
// the Prometheus rules read the selectors below. Each is a PromQL
// instant-vector selector of a counter, a metric name with optional label
// matchers; the rules take its rate. Narrow a default to one service by
// writing it out with a matcher, e.g.
// `http_server_request_duration_seconds_count{job="checkout"}`.
type SLI struct {
	// Latency, when positive, makes this a latency SLI: an event is good
	// when it took at most Latency. It must be a bucket boundary of the
	// histogram (OpenTelemetry's defaults for http.server.request.duration
	// are 5ms, 10ms, 25ms, 50ms, 75ms, 100ms, 250ms, 500ms, 750ms, 1s,
	// 2.5s, 5s, 7.5s and 10s). Default: 0, an availability SLI, where an
	// event is good when it is not a server error.
	Latency time.Duration
	// Total selects the counter of all events. Default:
	// http_server_request_duration_seconds_count.
	Total string
	// Bad selects the counter of bad events. Default for availability:
	// http_server_request_duration_seconds_count{http_response_status_code=~"5.."}.
	// Set Bad or Good, not both.
	Bad string
	// Good selects the counter of good events; the error ratio is then
	// 1 - good/total. Default for latency:
	// http_server_request_duration_seconds_bucket{le="<Latency in seconds>"},
	// with le written as Prometheus 3 stores it ("0.25", "1.0"; Prometheus
	// 2 scraping the text format stores "1", so set Good there for whole
	// seconds).
	Good string
}

// Validate reports the first rule s breaks, wrapping ErrInvalid.
func (s SLO) Validate() error {
	if err := validName(s.Name); err != nil {
		return fmt.Errorf("%w: Name %q %s", ErrInvalid, s.Name, err)
	}
	if !(s.Objective > 0 && s.Objective < 1) { // also refuses NaN
		return fmt.Errorf("%w: SLO %s: Objective is %v; it must be above 0 and below 1", ErrInvalid, s.Name, s.Objective)
	}
	if s.Period < 0 || s.Period%time.Millisecond != 0 {
		return fmt.Errorf("%w: SLO %s: Period is %v; it must be a positive whole number of milliseconds (or zero for %v)", ErrInvalid, s.Name, s.Period, DefaultPeriod)
	}
	if s.SLI.Latency < 0 {
		return fmt.Errorf("%w: SLO %s: SLI.Latency is %v; it must be positive (or zero for availability)", ErrInvalid, s.Name, s.SLI.Latency)
	}
	if s.SLI.Bad != "" && s.SLI.Good != "" {
		return fmt.Errorf("%w: SLO %s: SLI.Bad and SLI.Good are both set; set one", ErrInvalid, s.Name)
	}
	return nil
}

// validName checks that name can stand in a Prometheus metric name, or
// says why not.
func validName(name string) error {
	if name == "" {
		return errors.New("is empty; it is required")
	}
	for i, r := range name {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return errors.New("must be letters, digits and underscores, not starting with a digit (it names Prometheus rules)")
		}
	}
	return nil
}

// period returns the SLO's period with its default applied.
func (s SLO) period() time.Duration {
	if s.Period == 0 {
		return DefaultPeriod
	}
	return s.Period
}

// budget is the fraction of events allowed to be bad.
func (s SLO) budget() float64 { return 1 - s.Objective }

// selectors returns the SLI's total selector and either its bad or its
// good selector (the other is empty), defaults applied.
func (i SLI) selectors() (total, bad, good string) {
	total = i.Total
	if total == "" {
		total = defaultTotal
	}
	switch {
	case i.Bad != "" || i.Good != "":
		return total, i.Bad, i.Good
	case i.Latency > 0:
		return total, "", defaultGoodMetric + `{le="` + bucketBound(i.Latency) + `"}`
	default:
		return total, defaultBad, ""
	}
}

// bucketBound writes d in seconds as Prometheus 3 writes a histogram's le
// label: Go's shortest float, with ".0" added to whole numbers.
func bucketBound(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
