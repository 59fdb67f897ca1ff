package consent

import (
	"context"
)

// Store keeps purposes, notices, events and each subject's current state.
// gdpr/consent/memstore and gdpr/consent/sqlstore implement it; consenttest is its
// conformance suite. The Ledger validates every argument before a Store
// sees it, and every method is scoped to one tenant.
type Store interface {
	// SavePurpose creates p when p.Revision is 0, or else updates its
	// Description and Lifetime if p.Revision is current; then it
	// increments p.Revision. With notice non-nil it adds that notice to
	// the purpose in the same transaction. ErrConflict when p.Revision is
	// stale, when it is 0 and the purpose exists, or when the notice's
	// version and language are taken. p.Notices is ignored.
	SavePurpose(ctx context.Context, p *Purpose, notice *Notice) error
	// Purposes returns the tenant's purposes with their notices (by
	// version, then language), by key; when keys are given, only those
	// (unknown keys are left out).
	Purposes(ctx context.Context, tenantID string, keys ...string) ([]*Purpose, error)
	// Append stores e as the next event of its tenant, subject and
	// purpose, sets e.Seq, and makes e their current state, atomically:
	// concurrent appends for one subject and purpose are ordered, and the
	// current state is always the event with the highest Seq. When e.At
	// is before the current event's At (a write that lost a race, a clock
	// behind another process's), Append moves e.At up to it, so that
	// times never decrease along Seq.
	Append(ctx context.Context, e *Event) error
	// Events returns the subject's events that match f, by purpose, then
	// Seq.
	Events(ctx context.Context, tenantID, subject string, f EventFilter) ([]*Event, error)
	// EraseSubject moves the subject's events to pseudonym, clearing
	// their Proof and numbering them after any events pseudonym already
	// has, deletes the subject's current state, and returns how many
	// events it moved. Erasing a subject without events does nothing.
	EraseSubject(ctx context.Context, tenantID, subject, pseudonym string) (int, error)
}

// EventFilter selects a subject's events; the zero value selects all.
type EventFilter struct {
	// Purpose keeps the events of one purpose; "" keeps every purpose's.
	Purpose string
	// Current keeps, per purpose, only the event that set the current
	// state, read from the current-state records rather than by scanning
	// history.
	Current bool
}
