// Package jetstreamdest delivers webhooks to NATS JetStream subjects:
// a webhook.Destination for endpoint URLs "nats://<subject>", with the
// engine's retries, circuit breakers, rate limits, ordering, attempt log
// and dead letters, as for HTTP endpoints.
//
// # Quick start
//
//	nc, _ := nats.Connect(nats.DefaultURL)
//	js, _ := jetstream.New(nc) // github.com/nats-io/nats.go/jetstream
//	_, _ = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "WEBHOOKS", Subjects: []string{"webhooks.>"}})
//	dest, _ := jetstreamdest.New(js, jetstreamdest.Options{Stream: "WEBHOOKS"})
//	d, _ := webhook.NewDispatcher(store, store, seal, webhook.DispatcherOptions{
//		Destinations: map[string]webhook.Destination{jetstreamdest.Scheme: dest},
//	})
//	// Tenant acme, through the management API:
//	_, _, _ = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "nats://webhooks.acme.orders"})
//
// # Tenants' subjects
//
// A tenant publishes only under its prefix (Options.Prefix, by default
// "webhooks.<tenant>."): an endpoint naming any other subject, such as
// another tenant's, $JS.API.> or the events stream's, is refused when it
// is created or updated, and again before each delivery. Nor may an
// endpoint's own headers be JetStream's (Nats-Rollup, Nats-Msg-Id, ...:
// CheckHeader refuses them, and Deliver drops any an older endpoint
// has). The operator's NATS connection is the credential; endpoints
// take no authentication.
//
// # Messages
//
// A message carries the headers an HTTP delivery would (webhook-id,
// webhook-timestamp, webhook-signature, Content-Type and the endpoint's
// own headers) and the signed body, so a consumer verifies it with
// webhook.Verify over http.Header(msg.Headers()). Nats-Msg-Id is the
// delivery's ID: a retry after a lost ack is dropped by the stream's
// duplicate window. The attempt log records the headers sent and, as
// the response, the subject, stream and sequence of the ack (Ack).
//
// A publish to a subject no stream takes fails (no responders) and is
// retried on the engine's schedule, so deliveries wait out a stream that
// is missing or unavailable. Ordered endpoints publish one message of an
// ordering key at a time, so the stream keeps the order they were sent
// in.
//
// The events package's JetStream adapter (events/jetstream) shapes its
// stream and messages for saaskit events (CloudEvents headers, a
// dead-letter stream of its consumers); webhook messages take their own
// stream, which the operator creates for its tenants' prefixes.
package jetstreamdest
