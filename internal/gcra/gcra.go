// Package gcra holds the arithmetic that the shared rate-limit stores
// (SQL and Redis) share: the generic cell rate algorithm in whole
// microseconds. A key keeps one number, its theoretical arrival time
// (TAT): when its bucket would next be full-but-one, in Unix
// microseconds. A take at now is allowed when max(TAT, now) - now is at
// most Tolerance; it then moves TAT to max(TAT, now) + Interval.
package gcra

import (
	"errors"
	"math"
	"time"
)

// MaxSpan bounds Interval*Burst, in microseconds (about 35 years), so
// that every sum stays exact in int64 and in a Lua (double) number.
const MaxSpan = 1 << 50

// ErrRange means the limit's bucket takes longer than MaxSpan to refill.
var ErrRange = errors.New("rate limit too slow to keep: a full refill must take under 35 years")

// Params are a limit in microseconds.
type Params struct {
	// Interval is the time between two tokens, 1/rate, rounded up so as
	// never to exceed the rate, and at least 1.
	Interval int64
	// Tolerance is how far TAT may run ahead of now for a take to be
	// allowed: (burst-1) * Interval.
	Tolerance int64
}

// Of returns the parameters of rate tokens a second in bursts of up to
// burst. rate must be finite and > 0, burst >= 1.
func Of(rate float64, burst int) (Params, error) {
	if !(rate > 0) || math.IsInf(rate, 0) || burst < 1 {
		return Params{}, errors.New("rate limit needs a finite Rate > 0 and Burst >= 1")
	}
	interval := max(math.Ceil(1e6/rate), 1)
	if interval*float64(burst) > MaxSpan {
		return Params{}, ErrRange
	}
	i := int64(interval)
	return Params{Interval: i, Tolerance: int64(burst-1) * i}, nil
}

// Duration is n microseconds, or 0 if n is negative.
func Duration(n int64) time.Duration { return time.Duration(max(n, 0)) * time.Microsecond }
