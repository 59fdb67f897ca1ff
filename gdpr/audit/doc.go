// Package audit keeps a tamper-evident trail of data-subject requests and
// privacy operations: per tenant, an append-only chain of records in
// which each record carries the hash of the one before it, so that
// editing, deleting or reordering any record breaks the chain where it
// happened, and Verify says where and how.
//
//	trail, err := audit.New(store, audit.Options{CheckpointKey: checkpointKey})
//	rec, err := trail.Append(ctx, tenantID, audit.Record{
//		Actor:   "staff:42",
//		Action:  "dsr.completed",
//		Subject: audit.Pseudonym(pseudonymKey, tenantID, userID),
//		Request: &audit.Request{ID: r.ID, ReceivedAt: r.ReceivedAt, Kind: "deletion",
//			Channel: "web form", RespondedAt: now, Response: audit.Complied},
//	})
//	cp, err := trail.Checkpoint(ctx, tenantID) // keep it elsewhere
//	...
//	report, err := trail.Verify(ctx, tenantID, cp)
//	if err != nil { ... } // the store failed, or the checkpoint is forged
//	if !report.OK {
//		log.Printf("audit trail broken at seq %d: %s", report.BrokenAt, report.Reason)
//	}
//
// The store is gdpr/audit/memstore, or gdpr/audit/sqlstore for SQLite and
// PostgreSQL. gdpr.Options.OnChange is the place to append a record for
// every change of a data-subject request.
//
// # No personal data
//
// A trail must outlive the data it describes: erasing a subject's data
// must not mean erasing the proof that it was erased. So records never
// name a subject. Subject holds Pseudonym(key, tenantID, identity), an
// HMAC that finds the subject's records again for whoever holds the key
// and names no one otherwise; Append refuses anything else there. Keep
// names, emails and other identifiers out of Actor and Details too.
//
// # Consumer requests
//
// Cal. Code Regs. tit. 11, § 7101 asks a business to keep, for 24 months,
// each consumer request's date, nature and manner, and the date and
// nature of the response, with the basis of any denial. Record.Request
// holds exactly those fields, checked: a response needs its date, a
// denial (in whole or in part) needs its basis.
//
// # Hash chain
//
// Each tenant's records are numbered Seq 1, 2, 3, ... The first record's
// PrevHash is ZeroHash (64 zeros); every other record's PrevHash is the
// Hash of the record before it. Hash is the SHA-256, in lowercase hex, of
// this encoding of the record, in which every item is a field, written
// as its length in bytes (8 bytes, big-endian) followed by its bytes:
//
//	"saaskit.gdpr.audit.record.v1"
//	TenantID
//	Seq, in decimal
//	Time
//	Actor
//	Action
//	Subject
//	"0" when Request is nil; otherwise "1", then Request's ID, ReceivedAt,
//	    Kind, Channel, RespondedAt, Response and DenialBasis
//	the number of Details, in decimal, then each key and its value, by
//	    key in ascending byte order
//	PrevHash
//
// Strings are their UTF-8 bytes; a time is written in UTC as
// 2006-01-02T15:04:05.000000Z (always six fractional digits), and a zero
// time as the empty string. Record.ComputeHash implements it, and a test
// pins it against a copy of this description.
//
// # Verifying
//
// Trail.Verify reads the chain a page at a time (Options.PageSize), in
// bounded memory, and stops at the first break: Modified (a record no
// longer matches its hash), Deleted (a sequence number is missing),
// Reordered (a record does not link to its predecessor), Truncated (see
// below). The chain alone cannot show that records were cut from its
// end, or that an end was rewritten with fresh hashes: for that, take a
// Checkpoint now and then (the last Seq and Hash) and keep it where the
// trail's writers cannot change it: another system, a log, a signed
// email. Verify given checkpoints reports Truncated when the chain ends
// before one or does not contain it. With Options.CheckpointKey,
// checkpoints carry an HMAC-SHA256 Signature over the field encoding of
// "saaskit.gdpr.audit.checkpoint.v1", TenantID, Seq in decimal, Hash and
// Time, and Verify refuses any checkpoint whose signature does not verify
// (ErrBadSignature), so that only the key's holder can vouch for one.
// CheckpointFile keeps checkpoints in a file of JSON lines, apart from the
// trail's database; saaskit audit checkpoint and audit verify use one.
//
// # Concurrency
//
// Append reads the end of the chain and asks the Store to append after
// exactly that record; when another appender got there first the Store
// refuses (ErrConflict) and Append reads the new end and tries again.
// Any number of Trails, in any number of processes, may append to one
// Store without forking a chain.
package audit
