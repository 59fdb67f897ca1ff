// Package pubsubdest delivers webhooks to gocloud.dev/pubsub topics:
// Kafka, Amazon SQS and SNS, Google Pub/Sub, Azure Service Bus,
// RabbitMQ, NATS, and in-memory topics, as a webhook.Destination with
// the engine's retries, circuit breakers, rate limits, ordering,
// attempt log and dead letters, as for HTTP endpoints.
//
// It is a module of its own, so that gocloud.dev stays out of the
// root module; a driver is compiled in only when the application
// imports it (gocloud.dev/pubsub/kafkapubsub, rabbitpubsub, ...), as
// backup/blobtarget does with gocloud.dev/blob. The tests run the
// RabbitMQ driver against a local broker. The NATS driver,
// gocloud.dev/pubsub/natspubsub, is a module of its own that the module
// proxy does not serve (no version of it, as of gocloud.dev v0.49.0),
// so it is untested here; for NATS JetStream, webhook/jetstreamdest
// publishes directly.
//
// # Quick start
//
//	import _ "gocloud.dev/pubsub/kafkapubsub" // reads KAFKA_BROKERS
//
//	dest := pubsubdest.New(pubsubdest.Options{})
//	defer dest.Close(ctx)
//	d, _ := webhook.NewDispatcher(store, store, seal, webhook.DispatcherOptions{
//		Destinations: map[string]webhook.Destination{"kafka": dest},
//	})
//	// Tenant acme, through the management API:
//	_, _, _ = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "kafka://webhooks.acme.orders"})
//
// # Tenants' topics
//
// Register only the schemes tenants may use. A tenant names a topic
// under its prefix (Options.Prefix, by default "webhooks.<tenant>."),
// and nothing else: another tenant's topics, the platform's, a URL with
// a query (which would configure the driver: brokers, credentials) or
// a port are refused when the endpoint is created or updated, and again
// before each delivery. The operator's connection and credentials,
// from the driver's environment or a URLMux of its own (Options.Mux),
// are the only ones used; endpoints take no authentication.
//
// # Messages
//
// A message's metadata carries the headers an HTTP delivery would
// (webhook-id, webhook-timestamp, webhook-signature, Content-Type and
// the endpoint's own headers), and its body is the signed payload, so a
// consumer verifies it with webhook.Verify over the metadata as headers.
// The attempt log records the headers sent and, as the response, the
// topic (Ack). A send the broker refuses (a RabbitMQ exchange that does
// not exist, say) fails the attempt, which is retried on the engine's
// schedule; the topic is opened again for the next attempt.
//
// Brokers bound metadata: Amazon SQS takes at most 10 message
// attributes, of which a delivery sets five (Content-Type, User-Agent
// and the three webhook-* headers), so an SQS endpoint's own headers
// must be five at most; Pub/Sub reserves attribute names beginning
// with "goog" (CheckHeader refuses them).
//
// An ordered endpoint sends one message of an ordering key at a time,
// so a broker that keeps a topic's order keeps theirs; Options.BeforeSend
// sets the driver's own key (a Kafka key, a Pub/Sub ordering key) from
// the request's OrderingKey.
package pubsubdest
