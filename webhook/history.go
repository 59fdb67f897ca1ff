package webhook

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MaxAttemptBuckets is the most buckets an AttemptWindow may have.
const MaxAttemptBuckets = 240

// maxBucketWidth is the widest bucket an AttemptWindow may have.
const maxBucketWidth = 31 * 24 * time.Hour

// AttemptWindow is the time an attempt history covers: Count buckets of
// Width each, back to back, the first beginning at Start.
type AttemptWindow struct {
	Start time.Time
	Width time.Duration // 1 s to 31 days
	Count int           // 1 to MaxAttemptBuckets
	// EndpointID, when set, counts only the attempts to that endpoint.
	EndpointID string
}

// WindowEnding returns the window of count buckets of width whose last
// bucket holds now. Buckets begin at multiples of width since the zero
// time, so hours begin on the hour (UTC).
func WindowEnding(now time.Time, width time.Duration, count int) AttemptWindow {
	last := now.Truncate(width)
	return AttemptWindow{Start: last.Add(-time.Duration(count-1) * width), Width: width, Count: count}
}

// Validate reports ErrInvalid, naming the field, when the window breaks
// its fields' limits.
func (w AttemptWindow) Validate() error {
	switch {
	case w.Start.IsZero():
		return fmt.Errorf("%w: attempt window start is required", ErrInvalid)
	case w.Width < time.Second || w.Width > maxBucketWidth:
		return fmt.Errorf("%w: attempt window width %s is not 1s to %s", ErrInvalid, w.Width, maxBucketWidth)
	case w.Count < 1 || w.Count > MaxAttemptBuckets:
		return fmt.Errorf("%w: attempt window count %d is not 1 to %d", ErrInvalid, w.Count, MaxAttemptBuckets)
	}
	return nil
}

// BucketStart is when bucket i begins; BucketStart(Count) is when the
// window ends.
func (w AttemptWindow) BucketStart(i int) time.Time {
	return w.Start.Add(time.Duration(i) * w.Width)
}

// EmptyBuckets returns the window's Count buckets with their starts and
// nothing counted, for adapters to fill.
func (w AttemptWindow) EmptyBuckets() []AttemptBucket {
	out := make([]AttemptBucket, w.Count)
	for i := range out {
		out[i].Start = w.BucketStart(i)
	}
	return out
}

// AttemptBucket sums up a tenant's delivery attempts made in one bucket
// of an AttemptWindow.
type AttemptBucket struct {
	Start     time.Time // the bucket holds attempts made from Start on, for the window's Width
	Attempts  int       // attempts made
	Succeeded int       // attempts that succeeded (Attempt.Error "")
	// LatencyP50 and LatencyP95 are the median and 95th percentile
	// (nearest rank) of the latencies of the attempts that sent a request
	// (Latency above zero); zero when none did.
	LatencyP50 time.Duration
	LatencyP95 time.Duration
}

// SuccessRate is the share of the bucket's attempts that succeeded, 0 to
// 1; ok is false when no attempt was made.
func (b AttemptBucket) SuccessRate() (rate float64, ok bool) {
	if b.Attempts == 0 {
		return 0, false
	}
	return float64(b.Succeeded) / float64(b.Attempts), true
}

// HistoryQueue is a Queue that sums up a tenant's delivery attempts over
// time from its attempt log, for dashboards: every process that shares
// the queue sees the same history. memstore and sqlstore implement it.
type HistoryQueue interface {
	// AttemptHistory returns w.Count buckets, oldest first, each summing
	// up the tenant's attempts made (Attempt.At) within it. The window
	// bounds the attempts read. ErrInvalid when w is not valid.
	AttemptHistory(ctx context.Context, tenantID string, w AttemptWindow) ([]AttemptBucket, error)
}

// AttemptHistory sums up the tenant's delivery attempts in the buckets
// of w, from the durable attempt log; ErrUnsupported when the queue is
// not a HistoryQueue.
func (d *Dispatcher) AttemptHistory(ctx context.Context, tenantID string, w AttemptWindow) ([]AttemptBucket, error) {
	h, ok := d.queue.(HistoryQueue)
	if !ok {
		return nil, fmt.Errorf("attempt history: %w", ErrUnsupported)
	}
	return h.AttemptHistory(ctx, tenantID, w)
}

// BucketAttempts sums up attempts in the buckets of w, for adapters that
// keep the attempt log in memory; attempts made outside w are left out.
// w must be valid.
func BucketAttempts(w AttemptWindow, attempts []Attempt) []AttemptBucket {
	out := w.EmptyBuckets()
	latencies := make([][]time.Duration, w.Count)
	end := w.BucketStart(w.Count)
	for _, a := range attempts {
		if a.At.Before(w.Start) || !a.At.Before(end) {
			continue
		}
		i := int(a.At.Sub(w.Start) / w.Width)
		out[i].Attempts++
		if a.Error == "" {
			out[i].Succeeded++
		}
		if a.Latency > 0 {
			latencies[i] = append(latencies[i], a.Latency)
		}
	}
	for i, ls := range latencies {
		slices.Sort(ls)
		out[i].LatencyP50, out[i].LatencyP95 = nearestRank(ls, 50), nearestRank(ls, 95)
	}
	return out
}

// nearestRank is the pct-th percentile of sorted by the nearest-rank
// method, the value at rank ceil(pct/100 × n); zero when sorted is empty.
// sqlstore ranks the same way.
func nearestRank(sorted []time.Duration, pct int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)*pct+99)/100-1]
}
