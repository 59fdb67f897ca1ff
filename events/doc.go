// Package events publishes events between products: a transactional
// outbox written in the application's transaction, a relay that moves
// it to a broker exactly once, and an inbox that lets each consumer
// handle each event exactly once, in order per aggregate.
//
// # Quick start
//
//	st, _ := sqlstore.New(db)                      // events/sqlstore: SQLite or PostgreSQL
//	_ = st.Migrate(ctx)
//	err := sqldbTx(func(tx *sql.Tx) error {         // the application's transaction
//		// ... insert the user ...
//		return st.AppendTx(ctx, tx, &events.Event{
//			TenantID: "acme", Type: "user.created", AggregateKey: "user/42",
//			SubjectKey: "42", Payload: body,
//		})
//	})
//	pub, _ := jetstream.NewPublisher(js, jetstream.PublisherOptions{}) // events/jetstream
//	relay, _ := events.NewRelay(st, pub, events.RelayOptions{})
//	go relay.Run(ctx)
//
// A consumer (events/jetstream.Consumer) runs a Handler through an
// Inbox: with the SQL inbox the handler's writes go through
// events.Tx(ctx) and commit together with the record that the event was
// handled.
//
// # Guarantees
//
//   - Written if and only if the application's transaction commits.
//   - Published exactly once: the relay marks an event relayed only
//     after the broker accepted it, and republishes after a crash with
//     the same ID, which the broker's duplicate window (JetStream's
//     Nats-Msg-Id) drops.
//   - Ordered per aggregate: each event has a position in its tenant's
//     aggregate (AggregateSeq); a relay publishes an aggregate's next
//     event only after the broker accepted the one before, and an Inbox
//     runs a handler for position n only after n-1 (Outcome Early
//     otherwise). A consumer goes past a position without handling it
//     only when the event was dead-lettered or will never reach it
//     (events/jetstream: purged by an erasure, or outside its subjects).
//   - Handled once per consumer: the Inbox records the position handled
//     in the handler's own transaction (events/sqlstore). An Inbox
//     outside the handler's database (events/redisstore, for handlers
//     whose state lives elsewhere) records it after the handler returns,
//     so a process that dies in between runs that handler again.
//
// # Lanes and leases
//
// An outbox splits its events into [Lanes] lanes by tenant and
// aggregate. A relay worker leases a lane with a random token, publishes
// a batch, marks what the broker accepted and releases it; the next
// claim takes the lane idle longest. Relays in many processes share one
// outbox: a lane is published by one holder at a time, and a crashed
// holder's lane is free again when its lease runs out.
//
// # Subjects and erasure
//
// On a broker an event's subject is <prefix>.<tenant>.<subject
// token>.<type> ([Subject]); the data subject's token ([SubjectToken])
// in the subject lets erasure purge every retained event of a person by
// subject.
package events
