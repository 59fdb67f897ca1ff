// Package consent is a consent ledger as GDPR Art. 7 expects it: the
// controller can demonstrate that, when and to which text a subject
// consented, and withdrawing takes one call, like granting.
//
//	ledger, err := consent.New(memstore.New(), consent.Options{PseudonymKey: key})
//	_, err = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "marketing-email", Description: "newsletter"})
//	n, err := ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "marketing-email", Language: "en", Text: text})
//
//	// The signup form showed n.Text; it posts back what it showed.
//	_, err = ledger.Grant(ctx, "acme", userID, "marketing-email", consent.Grant{
//		NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "signup-form", Proof: submissionID,
//	})
//	ok, err := ledger.Allowed(ctx, "acme", userID, "marketing-email") // before sending
//	_, err = ledger.Withdraw(ctx, "acme", userID, "marketing-email", consent.Withdrawal{Source: "unsubscribe-link"})
//
// # Purposes and notices
//
// A tenant defines purposes ("marketing-email", "analytics") and
// publishes notices for them: versioned texts, each version in one or
// more languages. A notice records the SHA-256 of the exact text shown
// (Hash), its language and when it was published, and keeps the text
// itself when given one. Published notices never change; a new text is a
// new version. Publishing the latest text again returns the existing
// notice, so a service may publish its current texts at every start.
//
// # Grants and withdrawals
//
// Grant names the notice version and the hash of the text the subject
// saw; both must match a published notice of the purpose, or the grant
// fails (ErrNotFound, ErrNoticeMismatch). Withdraw needs no notice.
// Both record the channel (Source) and a Proof reference: a form
// submission ID, an IP hash, a signature. History is append-only.
//
// A grant may lapse: at its own ExpiresAt, or after the purpose's
// Lifetime. A grant for an older notice version stays valid, unless a
// later version was published with RequiresReconsent: then the state is
// still granted, but ReconsentRequired, and Allowed is false until the
// subject consents to that version or a later one.
//
// # Current state
//
// Status, Subject and Allowed read a current-state record per subject
// and purpose that the store writes in the transaction that appends the
// event, so they never scan history. Concurrent grants and withdrawals
// for one subject and purpose are ordered by the store (Event.Seq); the
// last one sets the state, and event times never decrease along Seq.
//
// # Erasure and access requests
//
// ExportSubject returns the subject's purposes, notices (with texts),
// states and events as JSON-ready structs, for an access or portability
// request. EraseSubject keeps the history, which the controller may need
// to show that past processing was lawful, but under an HMAC pseudonym
// of the subject instead of their identifier, with the Proof cleared; the
// subject's current state is deleted, so every purpose reads Never for
// them. With a stable Options.PseudonymKey, Pseudonym finds the history
// again from the identifier the person gives, for instance to answer a
// complaint. See EraseSubject for the reasoning.
//
// # Stores
//
// gdpr/consent/memstore keeps everything in memory; gdpr/consent/sqlstore keeps it
// in SQLite or PostgreSQL. consenttest.RunStoreTests is the conformance
// suite every Store passes. Every call is scoped to a tenant: another
// tenant's purposes, notices and subjects are not found.
package consent
