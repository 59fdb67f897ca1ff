package webhook

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// tenantAttr is the attribute key of a tenant's ID: tenancy.AttrKey,
// spelled out because package webhook does not depend on tenancy.
const tenantAttr = "tenant.id"

// telemetry is the dispatcher's OpenTelemetry instruments:
//
//	span saaskit.webhook.attempt      one per delivery attempt
//	saaskit.webhook.messages          messages sent, by event type
//	saaskit.webhook.attempts          attempts, by outcome
//	saaskit.webhook.attempt.duration  attempt latency, seconds
//	saaskit.webhook.breaker.opened    breakers that opened
//	saaskit.webhook.breakers          this process's breakers, by state
//	saaskit.webhook.queue.depth       pending and dead deliveries, by state
//	saaskit.webhook.queue.age         how long the oldest due delivery waits, seconds
//
// The queue gauges need a StatsQueue; they query it at each collection.
type telemetry struct {
	tracer   trace.Tracer
	messages metric.Int64Counter
	attempts metric.Int64Counter
	latency  metric.Float64Histogram
	opened   metric.Int64Counter
}

const instrumentation = "github.com/saaskit/saaskit/webhook"

// gaugeSources are what the observable gauges read.
type gaugeSources struct {
	queue    StatsQueue // nil: no queue gauges
	now      func() time.Time
	breakers func() map[string]int
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, src gaugeSources) (*telemetry, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentation)
	t := &telemetry{tracer: tp.Tracer(instrumentation)}
	var err error
	if t.messages, err = meter.Int64Counter("saaskit.webhook.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Messages sent, fanned out to endpoints.")); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	if t.attempts, err = meter.Int64Counter("saaskit.webhook.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Delivery attempts, by outcome.")); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	if t.latency, err = meter.Float64Histogram("saaskit.webhook.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a delivery to its response.")); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	if t.opened, err = meter.Int64Counter("saaskit.webhook.breaker.opened", metric.WithUnit("{event}"),
		metric.WithDescription("Endpoint circuit breakers that opened.")); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	if err := observeGauges(meter, src); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	return t, nil
}

// observeGauges registers the breaker and queue gauges.
func observeGauges(meter metric.Meter, src gaugeSources) error {
	breakers, err := meter.Int64ObservableGauge("saaskit.webhook.breakers", metric.WithUnit("{endpoint}"),
		metric.WithDescription("Endpoint circuit breakers in this process, by state."))
	if err != nil {
		return err
	}
	depth, err := meter.Int64ObservableGauge("saaskit.webhook.queue.depth", metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries in the queue: scheduled (waiting out a retry), due (waiting or in flight), dead."))
	if err != nil {
		return err
	}
	age, err := meter.Float64ObservableGauge("saaskit.webhook.queue.age", metric.WithUnit("s"),
		metric.WithDescription("How long the oldest due delivery has waited; 0 when none is due."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for state, n := range src.breakers() {
			o.ObserveInt64(breakers, int64(n), metric.WithAttributes(attribute.String("state", state)))
		}
		if src.queue == nil {
			return nil
		}
		now := src.now()
		st, err := src.queue.Stats(ctx, now)
		if err != nil {
			return err
		}
		o.ObserveInt64(depth, int64(st.Scheduled), metric.WithAttributes(attribute.String("state", "scheduled")))
		o.ObserveInt64(depth, int64(st.Due), metric.WithAttributes(attribute.String("state", "due")))
		o.ObserveInt64(depth, int64(st.Dead), metric.WithAttributes(attribute.String("state", "dead")))
		var waited float64
		if !st.OldestDue.IsZero() {
			waited = max(now.Sub(st.OldestDue).Seconds(), 0)
		}
		o.ObserveFloat64(age, waited)
		return nil
	}, breakers, depth, age)
	return err
}

var spanKindClient = trace.WithSpanKind(trace.SpanKindClient)

// startAttempt starts the span of one attempt. Attributes are built only
// for a recording span, so an unconfigured tracer costs nothing.
func (t *telemetry) startAttempt(ctx context.Context, del *Delivery, e *Endpoint) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, "saaskit.webhook.attempt", spanKindClient)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(tenantAttr, e.TenantID),
			attribute.String("saaskit.webhook.endpoint.id", e.ID),
			attribute.String("saaskit.webhook.message.id", del.Message.ID),
			attribute.String("saaskit.webhook.event_type", del.Message.EventType),
			attribute.Int("saaskit.webhook.attempt", del.Attempts+1),
		)
	}
	return ctx, span
}

// outcomeAttrs are the prebuilt attribute sets of attempt outcomes.
var outcomeAttrs = map[string]metric.MeasurementOption{}

func init() {
	for _, o := range []string{"succeeded", "gone", "exhausted", "retry"} {
		outcomeAttrs[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
}

// endAttempt records an attempt's outcome on its span and in metrics.
func (t *telemetry) endAttempt(ctx context.Context, span trace.Span, status int, latency time.Duration, outcome string, err error) {
	if status > 0 && span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if outcome != "succeeded" && span.IsRecording() {
		msg := outcome
		if err != nil {
			msg = err.Error()
		} else if status > 0 {
			msg = "HTTP " + strconv.Itoa(status)
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
	t.attempts.Add(ctx, 1, outcomeAttrs[outcome])
	t.latency.Record(ctx, latency.Seconds())
}
