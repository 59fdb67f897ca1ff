package observability

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Error-keeping sampling, decided in process. OpenTelemetry's samplers
// decide when a trace starts, before anyone knows whether it fails; the
// pair here decides when its local root span ends:
//
//   - ErrorKeepingSampler records every span. The traces that the ratio
//     keeps (by trace ID, like TraceIDRatioBased) are sampled and flow
//     downstream as such; the others are recorded only.
//   - The ErrorKeeper span processor passes sampled spans straight on and
//     holds recorded-only ones per trace until the trace's local root
//     ends: if any of its spans has an error status, the whole trace is
//     exported; otherwise it is dropped.
//
// A trace is decided when the last of its local roots in this process
// ends, so a trace that enters the process twice is kept if either visit
// fails. Memory is bounded (BufferOptions): at most MaxTraces traces are
// held (more start unheld: only their sampled share and their failing
// spans themselves are kept), each with at most MaxSpans spans (a trace
// past that keeps its first MaxSpans), for at most MaxAge (a trace whose
// root never ends is dropped). A span that ends after its trace was
// decided follows the decision, unless it fails: then it is exported,
// and so is the rest of that trace that still ends.

// ErrorKeepingSampler returns the sampler of error-keeping sampling:
// ratio of traces sampled, every other span recorded for the
// ErrorKeeper. A sampled parent's children are sampled.
func ErrorKeepingSampler(ratio float64) sdktrace.Sampler {
	return errorKeepingSampler{ratio: sdktrace.TraceIDRatioBased(ratio)}
}

type errorKeepingSampler struct{ ratio sdktrace.Sampler }

func (s errorKeepingSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	parent := trace.SpanContextFromContext(p.ParentContext)
	decision := sdktrace.RecordOnly
	switch {
	case parent.IsValid() && parent.IsSampled():
		decision = sdktrace.RecordAndSample
	case !parent.IsValid() && s.ratio.ShouldSample(p).Decision == sdktrace.RecordAndSample:
		decision = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: decision, Tracestate: parent.TraceState()}
}

func (s errorKeepingSampler) Description() string {
	return "ErrorKeeping{" + s.ratio.Description() + "}"
}

// BufferOptions bound the ErrorKeeper's memory.
type BufferOptions struct {
	MaxTraces int           // traces held at once; default 10,000
	MaxSpans  int           // spans held per trace; default 1,000
	MaxAge    time.Duration // longest a trace is held; default 5 minutes
}

// ErrorKeeper is the span processor of error-keeping sampling; see
// ErrorKeepingSampler.
type ErrorKeeper struct {
	next sdktrace.SpanProcessor
	opts BufferOptions
	now  func() time.Time

	mu      sync.Mutex
	held    map[trace.TraceID]*heldTrace
	decided map[trace.TraceID]bool // recent decisions, for late spans
	order   []trace.TraceID        // decided, oldest first
}

type heldTrace struct {
	spans     []sdktrace.ReadOnlySpan
	failed    bool
	started   time.Time
	openRoots int // local roots started and not ended: a trace may enter the process more than once
}

var _ sdktrace.SpanProcessor = (*ErrorKeeper)(nil)

// NewErrorKeeper returns an ErrorKeeper that passes kept spans to next
// (a batch processor with the real exporter).
func NewErrorKeeper(next sdktrace.SpanProcessor, opts BufferOptions) *ErrorKeeper {
	if opts.MaxTraces <= 0 {
		opts.MaxTraces = 10_000
	}
	if opts.MaxSpans <= 0 {
		opts.MaxSpans = 1_000
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	return &ErrorKeeper{next: next, opts: opts, now: time.Now,
		held: map[trace.TraceID]*heldTrace{}, decided: map[trace.TraceID]bool{}}
}

// OnStart implements sdktrace.SpanProcessor. It counts a recorded-only
// trace's local roots, so that the trace is decided when the last of
// them ends: a trace may enter this process several times (two calls
// from one upstream request), and an error in any of them keeps it.
func (k *ErrorKeeper) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	k.next.OnStart(ctx, s)
	if s.SpanContext().IsSampled() || (s.Parent().IsValid() && !s.Parent().IsRemote()) {
		return
	}
	id := s.SpanContext().TraceID()
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.decided, id) // if the trace comes back, decide it afresh
	t := k.held[id]
	if t == nil {
		k.expire()
		if len(k.held) >= k.opts.MaxTraces {
			return // the buffer is full: this trace is not held
		}
		t = &heldTrace{started: k.now()}
		k.held[id] = t
	}
	t.openRoots++
}

// OnEnd implements sdktrace.SpanProcessor.
func (k *ErrorKeeper) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		k.next.OnEnd(s)
		return
	}
	id := s.SpanContext().TraceID()
	failed := s.Status().Code == codes.Error
	localRoot := !s.Parent().IsValid() || s.Parent().IsRemote()

	k.mu.Lock()
	t := k.held[id]
	if t == nil {
		keep, decided := k.decided[id]
		if failed && decided && !keep {
			k.decided[id] = true // a late failure: keep what still comes
		}
		k.mu.Unlock()
		if keep || failed {
			// A late span of a kept trace, or a failing span that could
			// not be held (buffer full, or after a drop): export it.
			k.next.OnEnd(kept{s})
		}
		return
	}
	if len(t.spans) < k.opts.MaxSpans {
		t.spans = append(t.spans, s)
	}
	t.failed = t.failed || failed
	if localRoot {
		t.openRoots--
	}
	if !localRoot || t.openRoots > 0 {
		k.mu.Unlock()
		return
	}
	delete(k.held, id)
	k.remember(id, t.failed)
	k.mu.Unlock()
	if t.failed {
		for _, span := range t.spans {
			k.next.OnEnd(kept{span})
		}
	}
}

// remember keeps a bounded record of decisions for late spans.
func (k *ErrorKeeper) remember(id trace.TraceID, keep bool) {
	k.decided[id] = keep
	k.order = append(k.order, id)
	if len(k.order) > k.opts.MaxTraces {
		delete(k.decided, k.order[0])
		k.order = k.order[1:]
	}
}

// expire drops held traces older than MaxAge.
func (k *ErrorKeeper) expire() {
	if len(k.held) < k.opts.MaxTraces {
		return
	}
	cutoff := k.now().Add(-k.opts.MaxAge)
	for id, t := range k.held {
		if t.started.Before(cutoff) {
			delete(k.held, id)
		}
	}
}

// Shutdown implements sdktrace.SpanProcessor; held traces are dropped.
func (k *ErrorKeeper) Shutdown(ctx context.Context) error { return k.next.Shutdown(ctx) }

// ForceFlush implements sdktrace.SpanProcessor.
func (k *ErrorKeeper) ForceFlush(ctx context.Context) error { return k.next.ForceFlush(ctx) }

// kept marks a recorded-only span of a kept trace as sampled, so the
// batch processor exports it.
type kept struct{ sdktrace.ReadOnlySpan }

func (s kept) SpanContext() trace.SpanContext {
	return s.ReadOnlySpan.SpanContext().WithTraceFlags(s.ReadOnlySpan.SpanContext().TraceFlags().WithSampled(true))
}
