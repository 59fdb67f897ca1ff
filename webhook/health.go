package webhook

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Per-endpoint health in one worker process: a circuit breaker and a
// rate limiter per endpoint.
//
// The breaker opens after BreakerFailures consecutive failures; while it
// is open, deliveries to the endpoint wait without spending attempts.
// When the open period ends, at most BreakerProbes deliveries go through
// (half-open); that many successes in a row close it, one failure opens
// it again for twice as long (up to BreakerMaxOpen).

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

type endpointHealth struct {
	mu        sync.Mutex
	state     breakerState
	failures  int           // consecutive, while closed
	openUntil time.Time     // while open
	openFor   time.Duration // the last open period
	probes    int           // in flight, while half-open
	successes int           // in a row, while half-open
	limiter   *rate.Limiter // nil: no rate limit
	limit     float64
}

type healthBook struct {
	mu  sync.Mutex
	eps map[string]*endpointHealth
}

func (b *healthBook) of(e *Endpoint) *endpointHealth {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eps == nil {
		b.eps = map[string]*endpointHealth{}
	}
	h := b.eps[e.ID]
	if h == nil {
		h = &endpointHealth{}
		b.eps[e.ID] = h
	}
	h.mu.Lock()
	if h.limit != e.RateLimit {
		h.limit, h.limiter = e.RateLimit, nil
		if e.RateLimit > 0 {
			h.limiter = rate.NewLimiter(rate.Limit(e.RateLimit), 1)
		}
	}
	h.mu.Unlock()
	return h
}

// reset forgets the endpoint's breaker and limiter: it starts closed.
func (b *healthBook) reset(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.eps, id)
}

// states counts the breakers by state, for the breakers gauge.
func (b *healthBook) states() map[string]int {
	out := map[string]int{"closed": 0, "open": 0, "half_open": 0}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range b.eps {
		h.mu.Lock()
		out[[...]string{"closed", "open", "half_open"}[h.state]]++
		h.mu.Unlock()
	}
	return out
}

// rateLimiter returns the endpoint's limiter, nil without a rate limit.
func (h *endpointHealth) rateLimiter() *rate.Limiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.limiter
}

// admit reports whether a delivery may be attempted now; if not, it
// returns when to try again. An admitted half-open probe must be
// followed by record.
func (h *endpointHealth) admit(now time.Time, probes int) (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case breakerOpen:
		if now.Before(h.openUntil) {
			return false, h.openUntil
		}
		h.state, h.probes, h.successes = breakerHalfOpen, 0, 0
		fallthrough
	case breakerHalfOpen:
		if h.probes >= probes {
			return false, now.Add(time.Second)
		}
		h.probes++
	}
	return true, time.Time{}
}

// release gives back an admitted half-open probe that made no attempt
// (it was postponed); it changes nothing else.
func (h *endpointHealth) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == breakerHalfOpen && h.probes > 0 {
		h.probes--
	}
}

// record notes the outcome of an admitted attempt and reports whether
// it opened the breaker.
func (h *endpointHealth) record(ok bool, now time.Time, o WorkerOptions) (opened bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case breakerClosed:
		if ok {
			h.failures = 0
			return false
		}
		h.failures++
		if h.failures >= o.BreakerFailures {
			h.open(now, o.BreakerOpen, o)
			return true
		}
	case breakerHalfOpen:
		h.probes--
		if !ok {
			h.open(now, min(2*h.openFor, o.BreakerMaxOpen), o)
			return true
		}
		h.successes++
		if h.successes >= o.BreakerProbes {
			h.state, h.failures = breakerClosed, 0
		}
	case breakerOpen:
		// A result from before the breaker opened: nothing to change.
	}
	return false
}

func (h *endpointHealth) open(now time.Time, d time.Duration, o WorkerOptions) {
	if d <= 0 {
		d = o.BreakerOpen
	}
	h.state, h.openFor, h.openUntil = breakerOpen, d, now.Add(d)
}
