package flags

import (
	"context"
	"sync"
	"time"
)

// Outcomes counts what became of the requests each variant of a flag
// served (failed or not, and how long they took) in one-minute buckets
// over a window, as the metrics of a guarded rollout's guards: a
// metric since a time counts the whole minutes that began after it. They are
// this process's own: with several replicas, read a metric every
// replica records (OpenTelemetry, with the variant as an attribute) or
// give each replica's Guardian its own view.
type Outcomes struct {
	mu      sync.Mutex
	window  time.Duration
	now     func() time.Time
	buckets map[outcomeKey]map[int64]*outcomeBucket // by minute
}

type outcomeKey struct{ flag, variant string }

type outcomeBucket struct {
	requests, failures int64
	latency            time.Duration
}

// NewOutcomes keeps outcomes for window (default a day), on the clock
// now (default time.Now).
func NewOutcomes(window time.Duration, now func() time.Time) *Outcomes {
	if window <= 0 {
		window = 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Outcomes{window: window, now: now, buckets: map[outcomeKey]map[int64]*outcomeBucket{}}
}

// Record counts one request that the flag's variant served.
func (o *Outcomes) Record(flag, variant string, failed bool, latency time.Duration) {
	minute := o.now().Unix() / 60
	o.mu.Lock()
	defer o.mu.Unlock()
	k := outcomeKey{flag, variant}
	byMinute := o.buckets[k]
	if byMinute == nil {
		byMinute = map[int64]*outcomeBucket{}
		o.buckets[k] = byMinute
	}
	b := byMinute[minute]
	if b == nil {
		b = &outcomeBucket{}
		byMinute[minute] = b
		oldest := minute - int64(o.window/time.Minute)
		for m := range byMinute {
			if m < oldest {
				delete(byMinute, m)
			}
		}
	}
	b.requests++
	b.latency += latency
	if failed {
		b.failures++
	}
}

// sum adds the buckets of flag's variant that began after since: the
// minute since falls in may hold requests from before it, so it is left
// out.
func (o *Outcomes) sum(flag, variant string, since time.Time) outcomeBucket {
	from := since.Unix()/60 + 1
	o.mu.Lock()
	defer o.mu.Unlock()
	var total outcomeBucket
	for m, b := range o.buckets[outcomeKey{flag, variant}] {
		if m >= from {
			total.requests += b.requests
			total.failures += b.failures
			total.latency += b.latency
		}
	}
	return total
}

// ErrorRatio is a Guard's Read: the share of the variant's requests
// that failed since a time, out of as many samples as requests.
func (o *Outcomes) ErrorRatio(_ context.Context, flag, variant string, since time.Time) (Measure, error) {
	t := o.sum(flag, variant, since)
	if t.requests == 0 {
		return Measure{}, nil
	}
	return Measure{Value: float64(t.failures) / float64(t.requests), Samples: t.requests}, nil
}

// MeanLatency is a Guard's Read: the variant's mean request latency in
// seconds since a time.
func (o *Outcomes) MeanLatency(_ context.Context, flag, variant string, since time.Time) (Measure, error) {
	t := o.sum(flag, variant, since)
	if t.requests == 0 {
		return Measure{}, nil
	}
	return Measure{Value: t.latency.Seconds() / float64(t.requests), Samples: t.requests}, nil
}
