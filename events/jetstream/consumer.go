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
	// Subjects filter the stream, for example events.*.*.user.*.
	// Default: every event in the stream. A filter that leaves out some
	// of an aggregate's event types makes each event after a left-out
	// one wait for the gap check, about a second (see the package's
	// Erasure).
	Subjects []string
	// MaxDeliver is how many times the stream delivers an event before
	// a failing handler's event goes to the dead-letter subject. A
	// delivery counts when the handler ran, or when the consumer stopped
	// or died (or let AckWait pass) before answering; waiting for its
	// turn in its aggregate (Early) does not count. Default 5.
	MaxDeliver int
	// Backoff is the wait before the n-th redelivery after the handler
	// failed (the last entry repeats). Default 1 s, 5 s, 30 s, 2 min.
	Backoff []time.Duration
	// AckWait is how long the stream waits for an ack before it
	// delivers again (a consumer that died). It must be longer than the
	// longest run of the handler. Default 30 s.
	AckWait time.Duration
	// MaxAckPending is how many events may be in flight unacked: handed
	// to this consumer, waiting for the handler or held, and not yet
	// answered. Default 16. With 1 each event waits for the stream to
	// hear the ack of the one before it, a round trip that caps the
	// consumer below about a thousand events a second on a busy
	// machine. Events still run one at a time, in stream order; more in
	// flight also lets the stream run ahead while a failing event backs
	// off. An event that arrives before the one before it in its
	// aggregate is handled (Early) is held in the consumer, unanswered
	// and kept from redelivery, and runs right after its predecessor: it
	// never spends MaxDeliver, however long its predecessor backs off.
	// Held events count toward MaxAckPending. An event waiting its turn
	// behind slow handlers is not kept alive: keep MaxAckPending times
	// the handler's longest run below AckWait, or the stream delivers
	// the waiting events again (handled once all the same: the Inbox
	// sees the second copy as a duplicate).
	MaxAckPending int
	// EarlyDelay is how often the consumer tries its held Early events
	// again, for predecessors that another process of the same durable
	// consumer handles. Default 20 ms.
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
// order per aggregate. Events missing from the stream (purged by an
// erasure, say) are skipped, with a warning, once nothing before the
// next of their aggregate can still come (see the package's Erasure).
type Consumer struct {
	stream, name string
	cons         jetstream.Consumer
	js           jetstream.JetStream
	st           jetstream.Stream
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
		opts.MaxAckPending = 16
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
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("events jetstream: consumer %s on %s: %w", name, stream, err)
	}
	return &Consumer{stream: stream, name: name, cons: cons, js: js, st: st, inbox: inbox, h: h, opts: opts,
		tracer: opts.TracerProvider.Tracer("github.com/saaskit/saaskit/events/jetstream")}, nil
}

// Run handles events until ctx ends, then returns ctx's error.
//
// Events are handled one at a time, by Run's goroutine. An Early event
// (one whose aggregate's previous event is not handled yet) is held in
// the process rather than returned to the stream: it runs as soon as
// its predecessor is handled here, or, when another process handles the
// predecessor, at the next of the checks made every EarlyDelay. While
// held it is kept from the stream's redelivery with progress acks, so
// that waiting never counts as a delivery. Held events go back to the
// stream when Run returns.
func (c *Consumer) Run(ctx context.Context) error {
	msgs := make(chan jetstream.Msg)
	cc, err := c.cons.Consume(func(msg jetstream.Msg) {
		select {
		case msgs <- msg:
		case <-ctx.Done(): // not handled: the stream delivers it again
		}
	},
		jetstream.PullMaxMessages(max(2*c.opts.MaxAckPending, 8)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil {
				c.opts.Logger.WarnContext(ctx, "events jetstream: consume", "consumer", c.name, "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("events jetstream: consume %s: %w", c.name, err)
	}
	held := newHeldEvents()
	tick := time.NewTicker(min(c.opts.EarlyDelay, c.opts.AckWait/3))
	defer tick.Stop()
	gapCheck := time.NewTicker(gapCheckEvery)
	defer gapCheck.Stop()
	for {
		select {
		case msg := <-msgs:
			c.handle(ctx, msg, held)
		case <-tick.C:
			c.retryHeld(ctx, held)
		case <-gapCheck.C:
			c.skipGaps(ctx, held)
		case <-ctx.Done():
			cc.Stop()
			<-cc.Closed()
			held.release()
			return ctx.Err()
		}
	}
}

// handle decodes msg and delivers its event, holding it when it is Early.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg, held *heldEvents) {
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
	d := &delivery{msg: msg, md: md, e: e}
	switch c.deliver(ctx, d) {
	case events.Early:
		held.hold(d)
	case events.Handled, events.Duplicate:
		c.runHeld(ctx, held, aggregateOf(e))
	}
}

// retryHeld tries the first held event of each aggregate again, in case
// another process handled its predecessor, and keeps every held event
// from redelivery.
func (c *Consumer) retryHeld(ctx context.Context, held *heldEvents) {
	for _, agg := range held.aggregates() {
		c.runHeld(ctx, held, agg)
	}
	held.keepAlive(c.opts.AckWait / 3)
}

// runHeld delivers agg's held events in order until one is still Early.
func (c *Consumer) runHeld(ctx context.Context, held *heldEvents, agg string) {
	for d := held.first(agg); d != nil && ctx.Err() == nil; d = held.first(agg) {
		out := c.deliver(ctx, d)
		if out == events.Early {
			return
		}
		held.remove(agg)
		if out == 0 { // failed: the ones after it wait for its redelivery
			return
		}
	}
}

// gapCheckEvery is how often a consumer that holds Early events checks
// whether their predecessors are gone from the stream.
const gapCheckEvery = time.Second

// skipGaps goes on without the predecessors of held events that can
// never come. When every message before a held event in the consumer's
// subjects is answered, the event before it in its aggregate is not in
// the stream: purged by an erasure, removed by the stream's limits, or
// outside the consumer's subjects. (The stream carries an aggregate's
// events in order, and a consumer answers a message only once the
// Inbox has recorded its event.) The consumer records the position
// before the held event as handled, logs a warning, and runs it.
func (c *Consumer) skipGaps(ctx context.Context, held *heldEvents) {
	for !held.empty() && ctx.Err() == nil {
		first, err := c.firstUnanswered(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.opts.Logger.WarnContext(ctx, "events jetstream: look for gaps", "consumer", c.name, "error", err)
			}
			return
		}
		d := held.byStreamSeq(first)
		if d == nil || d.e.AggregateSeq < 2 {
			return
		}
		before := *d.e
		before.AggregateSeq--
		out, err := c.inbox.Process(ctx, c.name, &before, nil)
		if err == nil && out == events.Early {
			err = errors.New("the Inbox does not record past a gap (events.Inbox.Process with a nil handler)")
		}
		if err != nil {
			c.opts.Logger.ErrorContext(ctx, "events jetstream: record a gap", "consumer", c.name, "event", d.e.ID, "error", err)
			return
		}
		c.opts.Logger.WarnContext(ctx, "events jetstream: events before this one in its aggregate are not in the stream (purged, expired or outside the consumer's subjects): going on without them",
			"consumer", c.name, "event", d.e.ID, "tenant.id", d.e.TenantID, "aggregate", d.e.AggregateKey, "position", d.e.AggregateSeq)
		c.runHeld(ctx, held, aggregateOf(d.e))
	}
}

// firstUnanswered returns the stream sequence of the consumer's first
// unanswered message: the first message in its subjects after its ack
// floor.
func (c *Consumer) firstUnanswered(ctx context.Context) (uint64, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	subjects := c.opts.Subjects
	if len(subjects) == 0 {
		subjects = []string{">"}
	}
	var first uint64
	for _, subj := range subjects {
		m, err := c.st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if first == 0 || m.Sequence < first {
			first = m.Sequence
		}
	}
	return first, nil
}

// delivery is a message and the event it carries.
type delivery struct {
	msg  jetstream.Msg
	md   *jetstream.MsgMetadata
	e    *events.Event
	kept time.Time // when the stream last heard that it is in progress, if it has
}

// deliver runs d's event through the Inbox and acks, naks or
// dead-letters d. It returns Early, leaving d unanswered, when the
// event is Early; Handled or Duplicate once its aggregate has moved on
// (a dead letter counts as handled); and 0 when the handler failed and
// d waits for its redelivery.
func (c *Consumer) deliver(ctx context.Context, d *delivery) events.Outcome {
	msg, md, e := d.msg, d.md, d.e
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
		if ctx.Err() != nil { // stopping: the handler's run was cut short
			_ = msg.Nak()
			return 0
		}
		if int(md.NumDelivered) >= c.opts.MaxDeliver {
			if c.deadLetter(hctx, msg, e, err) {
				return events.Handled
			}
			return 0
		}
		i := min(int(md.NumDelivered)-1, len(c.opts.Backoff)-1)
		_ = msg.NakWithDelay(c.opts.Backoff[max(i, 0)])
		return 0
	}
	span.SetAttributes(attribute.String("saaskit.events.outcome", out.String()))
	if out == events.Early {
		return events.Early
	}
	if err := msg.Ack(); err != nil {
		c.opts.Logger.WarnContext(ctx, "events jetstream: ack", "consumer", c.name, "event", e.ID, "error", err)
	}
	return out
}

// deadLetter publishes msg to the dead-letter subject, records e (when
// decoded) as handled so its aggregate moves on, and terminates msg. It
// returns false when msg could not be published and was returned to the
// stream instead.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, e *events.Event, cause error) bool {
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
		return false
	}
	if e != nil {
		if _, err := c.inbox.Process(ctx, c.name, e, nil); err != nil && !errors.Is(err, context.Canceled) {
			c.opts.Logger.ErrorContext(ctx, "events jetstream: record dead letter", "consumer", c.name, "event", e.ID, "error", err)
		}
	}
	_ = msg.Term()
	return true
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
