package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/events"
)

// ConsumerOptions configure a Consumer. The zero value is a sensible
// default.
type ConsumerOptions struct {
	// Subjects filter the stream, for example events.*.*.user.created.
	// Default: every event in the stream.
	Subjects []string
	// MaxDeliver is how many times a failing handler runs for one event
	// before the event goes to the dead-letter subject. Default 5.
	MaxDeliver int
	// Backoff is the wait before the n-th redelivery after the handler
	// failed (the last entry repeats). Default 1 s, 5 s, 30 s, 2 min.
	Backoff []time.Duration
	// AckWait is how long the stream waits for an ack before it
	// delivers again (a consumer that died). Default 30 s.
	AckWait time.Duration
	// MaxAckPending is how many events may be in flight unacked. The
	// default, 1, hands events over in stream order; more lets the stream
	// run ahead, and the Inbox holds back an aggregate's event that
	// arrives before the one before it (Early: redelivered after
	// EarlyDelay, not counted as a failure).
	MaxAckPending int
	// EarlyDelay is the wait before an Early event comes again. Default
	// 20 ms.
	EarlyDelay time.Duration
	// Render, when set, gives the handler the payload it returns in
	// place of the published one: the payload as the consumer's pinned
	// version has it, for example
	//
	//	func(_ context.Context, e *events.Event) ([]byte, error) {
	//		return api.RenderPayload(pinned, "user", e.Payload) // package versioning
	//	}
	//
	// It runs inside the Inbox, before the handler, and its error counts
	// as the handler's: redelivered, then dead-lettered. Default: the
	// payload as published.
	Render func(ctx context.Context, e *events.Event) ([]byte, error)
	// TracerProvider makes the saaskit.events.handle spans, children of
	// the writer's trace context. Default otel's global.
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context from the headers. Default
	// otel's global.
	Propagator propagation.TextMapPropagator
	// Logger logs errors. Default slog.Default().
	Logger *slog.Logger
}

// Consumer runs a handler for a JetStream durable consumer, through an
// events.Inbox: explicit acks, bounded redelivery with backoff, a
// dead-letter subject, and each event handled once per consumer in
// order per aggregate.
type Consumer struct {
	stream, name string
	cons         jetstream.Consumer
	js           jetstream.JetStream
	inbox        events.Inbox
	h            events.Handler
	opts         ConsumerOptions
	tracer       trace.Tracer
}

var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewConsumer creates or updates the durable consumer name on stream
// and returns a Consumer that runs h for its events.
func NewConsumer(ctx context.Context, js jetstream.JetStream, stream, name string, inbox events.Inbox, h events.Handler, opts ConsumerOptions) (*Consumer, error) {
	switch {
	case js == nil || inbox == nil || h == nil:
		return nil, fmt.Errorf("%w: NewConsumer: js, inbox and handler are required", events.ErrInvalid)
	case !consumerName.MatchString(name):
		return nil, fmt.Errorf("%w: consumer name %q: must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", events.ErrInvalid, name)
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 5
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.MaxAckPending <= 0 {
		opts.MaxAckPending = 1
	}
	if opts.EarlyDelay <= 0 {
		opts.EarlyDelay = 20 * time.Millisecond
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.Propagator == nil {
		opts.Propagator = otel.GetTextMapPropagator()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if render := opts.Render; render != nil {
		h = renderFirst(h, render)
	}
	cfg := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: opts.AckWait,
		// Redelivery is bounded here, not by the server, so that an event
		// past its bound always reaches the dead-letter subject.
		MaxDeliver: -1, MaxAckPending: opts.MaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	switch len(opts.Subjects) {
	case 0:
	case 1:
		cfg.FilterSubject = opts.Subjects[0]
	default:
		cfg.FilterSubjects = opts.Subjects
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("events jetstream: consumer %s on %s: %w", name, stream, err)
	}
	return &Consumer{stream: stream, name: name, cons: cons, js: js, inbox: inbox, h: h, opts: opts,
		tracer: opts.TracerProvider.Tracer("github.com/saaskit/saaskit/events/jetstream")}, nil
}

// Run handles events until ctx ends, then returns ctx's error.
func (c *Consumer) Run(ctx context.Context) error {
	cc, err := c.cons.Consume(func(msg jetstream.Msg) { c.handle(ctx, msg) },
		jetstream.PullMaxMessages(max(2*c.opts.MaxAckPending, 8)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil {
				c.opts.Logger.WarnContext(ctx, "events jetstream: consume", "consumer", c.name, "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("events jetstream: consume %s: %w", c.name, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return ctx.Err()
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.opts.Logger.ErrorContext(ctx, "events jetstream: metadata", "consumer", c.name, "error", err)
		_ = msg.Nak()
		return
	}
	e, err := Decode(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil { // never handleable: straight to the dead letters
		c.deadLetter(ctx, msg, nil, err)
		return
	}
	hctx := c.opts.Propagator.Extract(ctx, headerCarrier(msg.Headers()))
	hctx, span := c.tracer.Start(hctx, "saaskit.events.handle", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", c.name),
			attribute.String("messaging.message.id", e.ID),
			attribute.String("tenant.id", e.TenantID),
			attribute.String("saaskit.events.type", e.Type),
			attribute.Int64("messaging.delivery.count", int64(md.NumDelivered)),
		))
	defer span.End()
	out, err := c.inbox.Process(hctx, c.name, e, c.h)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if int(md.NumDelivered) >= c.opts.MaxDeliver {
			c.deadLetter(hctx, msg, e, err)
			return
		}
		i := min(int(md.NumDelivered)-1, len(c.opts.Backoff)-1)
		_ = msg.NakWithDelay(c.opts.Backoff[max(i, 0)])
		return
	}
	span.SetAttributes(attribute.String("saaskit.events.outcome", out.String()))
	if out == events.Early {
		_ = msg.NakWithDelay(c.opts.EarlyDelay)
		return
	}
	if err := msg.Ack(); err != nil {
		c.opts.Logger.WarnContext(ctx, "events jetstream: ack", "consumer", c.name, "event", e.ID, "error", err)
	}
}

// deadLetter publishes msg to the dead-letter subject, records e (when
// decoded) as handled so its aggregate moves on, and terminates msg.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, e *events.Event, cause error) {
	dl := nats.NewMsg(DeadLetterPrefix(c.stream) + "." + c.name + "." + msg.Subject())
	dl.Data = msg.Data()
	for k, vs := range msg.Headers() {
		for _, v := range vs {
			dl.Header.Add(k, v)
		}
	}
	id := msg.Headers().Get(nats.MsgIdHdr)
	if md, err := msg.Metadata(); err == nil {
		id = fmt.Sprintf("%d", md.Sequence.Stream)
	}
	dl.Header.Set(nats.MsgIdHdr, c.name+":"+id)
	dl.Header.Set("Saaskit-Dead-Letter-Reason", cause.Error())
	if _, err := c.js.PublishMsg(ctx, dl); err != nil {
		c.opts.Logger.ErrorContext(ctx, "events jetstream: dead letter", "consumer", c.name, "error", err)
		_ = msg.NakWithDelay(c.opts.Backoff[len(c.opts.Backoff)-1])
		return
	}
	if e != nil {
		if _, err := c.inbox.Process(ctx, c.name, e, nil); err != nil && !errors.Is(err, context.Canceled) {
			c.opts.Logger.ErrorContext(ctx, "events jetstream: record dead letter", "consumer", c.name, "event", e.ID, "error", err)
		}
	}
	_ = msg.Term()
}

// renderFirst returns a handler that runs h on a copy of the event whose
// payload render made.
func renderFirst(h events.Handler, render func(context.Context, *events.Event) ([]byte, error)) events.Handler {
	return func(ctx context.Context, e *events.Event) error {
		payload, err := render(ctx, e)
		if err != nil {
			return fmt.Errorf("events jetstream: render event %s (%s v%d): %w", e.ID, e.Type, e.Version, err)
		}
		rendered := *e
		rendered.Payload = payload
		return h(ctx, &rendered)
	}
}
