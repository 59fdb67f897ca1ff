// Package jetstream carries saaskit events on NATS JetStream: a
// Publisher for the events relay, a Consumer that runs handlers through
// an idempotency inbox, and the gdpr.Source of retained events. NATS is
// compiled into a service only when it imports this package; the client
// (github.com/nats-io/nats.go) adds two small modules of its own, so the
// package lives in the root module, where the demo and the webhook
// engine's JetStream destinations can use it.
//
// # Quick start
//
//	nc, _ := nats.Connect(nats.DefaultURL)
//	js, _ := jetstream.New(nc)                    // github.com/nats-io/nats.go/jetstream
//	_, _ = ejs.EnsureStream(ctx, js, "EVENTS", ejs.StreamOptions{})
//	pub, _ := ejs.NewPublisher(js, ejs.PublisherOptions{Stream: "EVENTS"})
//	relay, _ := events.NewRelay(outbox, pub, events.RelayOptions{})
//	go relay.Run(ctx)
//
//	cons, _ := ejs.NewConsumer(ctx, js, "EVENTS", "billing", inbox, handle,
//		ejs.ConsumerOptions{Subjects: []string{"events.*.*.user.created"}})
//	go cons.Run(ctx)
//
// # Exactly-once publishing
//
// Each event is published with Nats-Msg-Id set to its ID and counts as
// published only when the stream acks it. A relay that dies between the
// ack and marking the event relayed publishes it again later; the
// stream's duplicate window (StreamOptions.Duplicates, 2 minutes by
// default, longer than a relay's lease) acks and drops the repeat.
//
// # Consumers
//
// A Consumer is a durable pull consumer with explicit acks. The handler
// runs through an events.Inbox; an event it already handled is acked
// without running. A failing handler's event is redelivered after
// ConsumerOptions.Backoff, up to MaxDeliver deliveries, then published
// to deadletter.<stream>.<consumer>.<subject> (stream
// <stream>_DEADLETTER), recorded as handled so its aggregate moves on,
// and terminated. The writer's trace context travels in the traceparent
// and tracestate headers, and each handler runs in a
// saaskit.events.handle consumer span continuing it.
//
// The stream runs ahead of the handler, up to MaxAckPending events (16
// by default), and an event can arrive while the one before it in its
// aggregate backs off. The
// consumer holds such an event (Early) in the process, keeping it from
// redelivery with progress acks, and runs it as soon as its predecessor
// is handled (by this process, or, checked every EarlyDelay, by another
// process of the same durable consumer). Waiting is not a delivery: an
// event that waited through its predecessor's whole backoff still has
// all of MaxDeliver for its own failures. A consumer that stops returns
// its held events to the stream at once; one that dies leaves them for
// the stream to deliver again after AckWait.
//
// An event's payload has a schema version (Event.Version,
// ce-dataversion). A consumer pinned to an older version of the
// producer's API sets ConsumerOptions.Render, for example to
// versioning's API.RenderPayload, and its handler gets the payload as
// that version has it; the event in the stream stays as published.
//
// # Messages
//
// Subjects are <prefix>.<tenant>.<subject token>.<type>
// (events.Subject). Headers follow CloudEvents 1.0 binary mode: ce-id,
// ce-type, ce-time, ce-source, ce-specversion, and the extensions
// ce-tenantid, ce-dataversion, ce-aggregatekey, ce-aggregateseq and
// ce-subjectkey; the body is the payload.
//
// # Erasure
//
// Source erases a data subject's retained events by purging the
// subjects that carry the subject's token, in the stream and its dead
// letters: the messages are deleted, not crypto-shredded, and the
// erasure's note says so.
//
// A consumer that is behind never gets the purged events, and a later
// event of their aggregate arrives Early. The consumer checks, about
// every second while it holds Early events, for the first message in
// its subjects after its ack floor; when that is a held event, nothing
// before it can still come (the stream carries an aggregate's events
// in order), so its predecessors are gone: purged, removed by the
// stream's limits, or outside the consumer's subjects. It records the
// gap in the Inbox, logs a warning and handles the event. A consumer
// whose Subjects take only some of an aggregate's event types goes
// through this for each event after a gap; give it every type of the
// aggregates it follows.
package jetstream
