// Package gdpr answers data-subject requests inside the service: access
// and portability (a JSON document or a ZIP bundle, streamed), erasure
// across every store that holds a person's data, rectification and
// restriction, each with its legal deadline.
//
//	st := memstore.New() // gdpr/memstore; gdpr/sqlstore keeps requests and holds in a database
//	e, err := gdpr.New(st, gdpr.Options{Holds: st},
//		usersTable, gdprsource.Webhook(dispatcher),
//		gdprsource.Crypto(keyring, "users", "webhook.messages"))
//	r, err := e.Submit(ctx, tenantID, gdpr.Erasure, gdpr.GDPR, subject, "web form")
//	r, err = e.Verify(ctx, tenantID, r.ID) // once the requester proved who they are
//	r, err = e.Process(ctx, tenantID, r.ID)
//
// # Sources
//
// A Source is any store of personal data: it finds a subject by the
// identities it knows (user ID, email, ...), exports their records one
// at a time, and erases or masks them, harmlessly when run again. It
// declares its data categories and the sources it must be erased after.
// Shipped, in gdpr/gdprsource so that gdpr itself depends on none of
// the packages it adapts: Webhook (messages and attempts about the
// subject) and Crypto (shredding the subject's data keys, which makes
// every copy of their encrypted data unreadable, backups included; the
// step says so); ConsentSource; and gdpr/sqlsource for an application's
// own tables, with
// per-column strategies (null, fixed, random, a keyed pseudonym, left
// to shredding) or deleting the rows.
//
// # Requests
//
// A request moves received → verified → in_progress → completed (or
// denied, with a reason; or failed, a step having failed or a legal
// hold having stopped it, with why in LastError, to be processed
// again). Deadlines
// follow the regime: GDPR one month (the month's last day when shorter),
// extendable once by two months; CCPA acknowledgement within 10
// business days and a response within 45 days, extendable by 45.
//
// # Erasure cascade
//
// Process runs the sources as a dependency graph (cycles are refused
// when the Engine is made), independent sources in parallel, and stores
// each step in the request as it starts and as it finishes: after a
// failure or a crash, processing again resumes without redoing finished
// steps, and a step that ran but lost its checkpoint runs again
// harmlessly. Such a step finds nothing left to erase; a source that is
// a Counter (gdpr/sqlsource tables are) counted the subject's records
// before the first run, so the step still reports them, and any other
// source's step says that its count covers the last run only.
//
// # Legal holds and breaches
//
// A legal hold (PlaceHold) keeps a tenant's data, or one subject's,
// from erasure and retention sweeps until it is lifted. Process reads
// the holds again before each step of an erasure, so a hold placed
// while one runs stops the steps not yet started: the request is left
// failed, its LastError giving the hold's reason, and Process returns
// an error wrapping ErrHeld; processing it again once the hold is
// lifted resumes it. CheckErasable lets code that deletes outside
// Process respect the same holds. Incidents is the breach
// register: each incident's timeline (detected, authority notified,
// subjects notified, closed) and its Art. 33 deadline, 72 hours from
// detection; Overdue lists what an alert should page on.
//
// # State
//
// Requests, holds and incidents live in stores (Store, HoldStore,
// IncidentStore). The Memory ones keep them in one process and lose
// them with it: for tests. gdpr/sqlstore keeps all three in SQLite or
// PostgreSQL, where every replica reads them and they survive
// restarts: a hold placed through one replica refuses an erasure
// through another at once. The Engine itself keeps no state of its own.
//
// The consent ledger is in gdpr/consent, the tamper-evident audit trail
// in gdpr/audit; Options.OnChange set to Audit records every change of
// every request in that trail, the subject only by pseudonym.
package gdpr
