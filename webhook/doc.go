// Package webhook signs and verifies webhooks in the Standard Webhooks
// format (v1.0.0), the open wire format Svix and others speak: headers
// webhook-id, webhook-timestamp and webhook-signature over the exact
// bytes "{id}.{timestamp}.{body}", with "v1" HMAC-SHA256 signatures
// (whsec_ secrets) and "v1a" Ed25519 signatures (whsk_/whpk_ keys).
//
// # Sender
//
//	secret := webhook.NewSecret() // "whsec_...", give it to the endpoint's owner
//	signer, err := webhook.NewSigner(secret)
//	req, _ := http.NewRequest("POST", endpointURL, bytes.NewReader(body))
//	err = signer.SetHeaders(req.Header, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", time.Now(), body)
//
// During a rotation, give NewSigner the new and the old key: every
// message carries both signatures, and receivers switch keys without
// missing one. NewKeyPair makes an Ed25519 pair when receivers should
// hold only a public key.
//
// # Receiver
//
//	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, "whsec_...")
//	mux.Handle("POST /webhooks", webhook.Receiver(v, webhook.ReceiverOptions{
//		Seen: memstore.NewSeen(memstore.SeenOptions{}), // webhook/memstore: refuse replays
//	})(handler))
//
// Receiver caps the body, verifies it, refuses replays, and hands the
// verified raw body to handler (r.Body and Body). Failures are
// application/problem+json naming the reason. Verify and VerifyValues do
// the same checks for other frameworks.
//
// Replay protection is as wide as its SeenStore: memstore.Seen remembers ids
// in one process, so a message replayed to another replica is accepted
// there. Replicas share it through sqlstore's Store.Seen (one upsert on
// SQLite or PostgreSQL) or redisstore (one SET NX PXAT); every SeenStore
// passes webhooktest.RunSeenStoreTests. When the store fails, Receiver
// refuses the message with 503 (it fails closed: the sender retries
// later) unless ReceiverOptions.SeenFailOpen says to accept it unchecked.
//
// Verification reads webhook-* or svix-* headers, accepts the message if
// any entry of a supported version matches (unknown versions are
// skipped), compares in constant time, and refuses timestamps more than
// VerifyOptions.Tolerance (default 5 minutes) away from its clock in
// either direction. Secrets are decoded leniently: with or without the
// whsec_ prefix, padded or not. Failures are exactly one of
// ErrMissingHeader, ErrMalformed, ErrTooOld, ErrTooNew and ErrNoMatch.
//
// # Performance
//
// Keys are prepared once: HMAC states are pooled and Reset rather than
// rebuilt, so signing and verifying "v1" allocate nothing and cost about
// one HMAC-SHA256 over the message (see BENCHMARKS.md).
//
// testdata/conformance.json holds language-neutral vectors, computed
// outside this package, that the tests run.
//
// # Delivery
//
// A Dispatcher sends a tenant's events to the endpoints that subscribe
// to them, at least once, over an EndpointStore and a Queue (memstore in
// memory; sqlstore on SQLite or PostgreSQL; webhooktest checks them):
//
//	d, err := webhook.NewDispatcher(st, st, func(tenant string) webhook.AEAD {
//		return keys.AEAD(skcrypto.Scope{Tenant: tenant}) // seals endpoint secrets
//	}, webhook.DispatcherOptions{})
//	ep, secret, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in"})
//	n, err := d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: body})
//	go d.Run(ctx, webhook.WorkerOptions{}) // in as many processes as you like
//
// The Dispatcher owns each endpoint's lifecycle: CreateEndpoint,
// GetEndpoint, ListEndpoints, UpdateEndpoint, DeleteEndpoint,
// DisableEndpoint, EnableEndpoint and RotateSecret, every change
// validated alike (the URL's scheme and host, refused on forbidden
// addresses at registration as well as when dialled; the event-type
// filter; the rate limit) and kept apart per tenant. An endpoint signs
// with an HMAC secret (v1, whsec_) or an Ed25519 key (v1a: the owner is
// shown the whpk_ public key). RotateSecret lets the replaced secrets
// sign beside the new one for an overlap (a day by default), so
// receivers verify throughout a rollout. An endpoint may carry custom
// headers (never one a delivery sets itself) and authenticate to its
// receiver with a bearer token or HTTP Basic and with a TLS client
// certificate (mutual TLS), all sealed at rest like its secrets. The
// delivery client keeps each certificate's connections apart, so no
// endpoint's request goes out on a connection made with another's
// certificate. Change endpoints through the
// Dispatcher rather than the store: it validates, and it forgets what it
// cached of them.
//
// A Catalogue lists the event types the application sends, each with a
// description, a state (active, deprecated, archived) and JSON Schemas
// of its payload, as sent and as each older API version receives it.
// Built from code at start-up, it is the same in every replica. Given
// to the Dispatcher (DispatcherOptions.Catalogue), it is enforced: Send
// refuses unknown and archived types (ErrUnknownEventType, ErrInvalid)
// and payloads that break their schema, and endpoints subscribe only to
// its types or to families of them ("invoice.*", which endpoints may
// name with or without a catalogue).
//
// Channels route messages within an event type: a message may be on a
// few channels (a project, a customer of the tenant's), and an endpoint
// with channels takes only messages on one of them; an endpoint without
// takes every message of its types.
//
// Send is idempotent by message ID: a retry of the same message within
// DispatcherOptions.IdempotencyWindow (a day by default) returns the
// first send's result and queues nothing; other reuse of the ID (another
// event type, payload or ordering key) is ErrConflict.
//
// An ordered endpoint (EndpointSpec.Ordered) delivers each ordering key's
// messages one at a time, in the order they were sent: a message waits
// until the one before it with the same Message.OrderingKey succeeded or
// was dead-lettered, while messages with other keys go on, so one failing
// customer or invoice holds back only its own events (as Pub/Sub's and
// Kafka's keys do). Messages without a key are one sequence of their own.
// The order holds through crashes: a worker killed mid-delivery leaves
// its lease, and nothing behind it goes until the lease runs out and the
// message is delivered again. On PostgreSQL, senders to the same sequence
// commit one after the other (an advisory lock per sequence), so delivery
// order is commit order. sqlstore finds each sequence's head with one
// index seek, so a claim costs one seek per sequence with pending
// messages, not per message waiting behind them.
//
// SendTx enqueues inside the caller's *sql.Tx, so an event commits or
// rolls back with the business change (transactional outbox). SendMany
// and SendManyTx queue many messages at once, all or none, in a few
// statements for all of them (BulkQueue). Every
// attempt is signed afresh and keeps the message's webhook-id. Failures
// retry with exponential backoff and jitter (about ten attempts over three
// days); Retry-After is honoured within bounds, throttling answers wait
// at least WorkerOptions.MinThrottle, redirects are failures, and 410 Gone
// disables the endpoint. A circuit breaker per endpoint stops attempts
// while it fails, without spending the deliveries' attempts, and lets a
// bounded number of probes through; an endpoint failing for DisableAfter
// is disabled. Endpoints may be rate limited and ordered (one message at a
// time per ordering key, in order). A breaker holds per worker process; a rate limit
// does too, unless WorkerOptions.RateLimiter shares it: sqlstore keeps
// each endpoint's schedule in the database and redisstore in Redis
// (GCRA), so any number of processes together keep the limit, and a
// delivery whose slot is far off is postponed to it rather than held.
// If the shared limiter fails, each process spaces its own deliveries
// meanwhile and logs a warning.
// Dead letters stay queryable; RetryDead and Recover bring them back,
// with no cap on how many. On a ResendQueue (memstore, sqlstore) any
// kept message can go out again: Resend queues one message to one
// endpoint whatever became of its earlier deliveries, and Replay the
// messages of a time window (all, or only those the endpoint has no
// delivery of: what it missed while disabled or before it existed),
// page by page. A message that went to no endpoint is not kept, so it
// cannot be replayed.
//
// Operational events tell the platform's operator what happens to
// tenants' endpoints: each change made through the Dispatcher (created,
// updated, deleted, disabled, enabled, secret rotated), and each turn of
// delivery (an endpoint failing, recovering, disabled on 410 Gone or
// after DisableAfter; a delivery exhausting its attempts). With
// DispatcherOptions.OperatorTenant they go out as signed webhooks to
// that tenant's endpoints, through the same queue and workers, so they
// are retried and logged like any message; OnEvent hears of them in
// process. The event types are the Event* constants.
//
// Run claims ahead of its workers: one claim at a time runs in the
// background while they are busy, keeping up to twice Concurrency
// deliveries ready (at most twice PerEndpoint of one endpoint), so a
// worker that comes free takes its next one at once. Run
// frees a worker as soon as its attempt ends: on a BatchQueue
// (sqlstore) one background completer records the outcomes, many per
// statement, and a killed process's unrecorded outcomes only repeat
// their deliveries when the leases run out (at least once). A process
// reads an endpoint from the store once per version (each claim says
// which version its deliveries' endpoints are at), and concurrent
// reads of one endpoint share a single query.
//
// Send wakes an idle Run in the same process, so a message leaves at
// once. On a WakeQueue (sqlstore on PostgreSQL: LISTEN/NOTIFY, one
// connection per process) Run in every other process is woken too as
// the message commits; elsewhere they find it at their next poll.
// Subscribe follows the outcomes Run records, without polling the
// queue. Each attempt is a
// span; metrics count messages and attempts by outcome, time attempts,
// and gauge the queue's depth and age (QueueStats) and the breakers by
// state. AttemptHistory sums up a tenant's attempts per interval of time
// (how many, how many succeeded, latency percentiles) from the durable
// attempt log, so a dashboard on any replica shows the same history.
//
// The delivery client refuses private, loopback, link-local, metadata
// and other special-purpose addresses after DNS resolution, follows no
// redirects and caps response bodies (NewDeliveryClient). Where the
// only way out is an HTTP proxy (DeliveryClientOptions.EgressProxy), the
// client still resolves and checks each destination itself and asks the
// proxy to tunnel to the checked address, so the guard is not handed to
// the proxy.
//
// # Message brokers
//
// An endpoint may be a message broker's subject or topic instead of an
// HTTP URL: a NATS JetStream subject (webhook/jetstreamdest,
// "nats://webhooks.acme.orders") or a gocloud.dev/pubsub topic on Kafka,
// SQS, Pub/Sub, RabbitMQ and the rest (webhook/pubsubdest, a module of
// its own). The operator registers a Destination per URL scheme:
//
//	d, _ := webhook.NewDispatcher(store, store, seal, webhook.DispatcherOptions{
//		Destinations: map[string]webhook.Destination{"nats": jsDest, "kafka": pubsubDest},
//	})
//
// Run delivers to them as to HTTP endpoints, with the same retries and
// backoff, breakers, rate limits, ordering keys, operational events,
// dead letters, resend and replay. The message carries the headers an
// HTTP request would (webhook-id, webhook-timestamp, webhook-signature,
// Content-Type, the endpoint's own), so consumers verify it alike; the
// attempt log records them, and the broker's ack (a JetStream stream
// and sequence) as the response.
//
// Tenants create endpoints themselves, so a broker is never theirs to
// roam: an endpoint's scheme must be one the operator registered (any
// other is refused, ErrDestination, with a message saying so), and its
// Destination confines the tenant to its own subjects or topics (by
// default under "webhooks.<tenant>.": not another tenant's, not $JS.API
// or the events stream), with no query or port to reconfigure the
// driver and no authentication of its own. This is checked when the
// endpoint is created or updated, through the API as through the
// Dispatcher, and again before every delivery. Every Destination
// passes webhooktest.RunDestinationTests.
//
// # Retention
//
// A queue keeps finished deliveries only as long as a Retention says,
// so its storage stays the same size under steady load:
//
//	go d.RunRetention(ctx, webhook.Retention{}) // beside Run, in any number of processes
//
// By default a succeeded delivery and a dead letter are each deleted,
// with their attempt logs, 30 days after they finished; Retention.Dead
// keeps dead letters, which RetryDead and Recover may still send, for a
// time of their own. A message goes with its last delivery; a pending
// delivery is never deleted, however old. Retention.Payload removes
// the payloads of messages delivered everywhere earlier than the
// messages themselves: the rest of the message stays, and
// Message.PayloadExpunged says the payload is gone. Each sweep
// (Dispatcher.Expire) deletes in batches, each a short transaction of
// its own (RetentionQueue: memstore; sqlstore, through an index of
// finished deliveries, never a table scan).
package webhook
