package gdpr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Errors.
var (
	ErrInvalid   = errors.New("gdpr: invalid")
	ErrNotFound  = errors.New("gdpr: not found")
	ErrConflict  = errors.New("gdpr: conflict")        // a stale update
	ErrWrongStep = errors.New("gdpr: not allowed now") // the request's state forbids it
)

// Identity is one way to name a data subject: a kind ("user_id",
// "email", "phone", ...) and a value.
type Identity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

var identityKind = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ValidIdentityKind reports whether kind is a valid identity kind: 1 to
// 32 of a-z, 0-9 and '_', starting with a letter.
func ValidIdentityKind(kind string) bool { return identityKind.MatchString(kind) }

// Subject is the person a request is about: their identities in the
// service. Sources find their data by whichever identity they key on.
type Subject struct {
	Identities []Identity `json:"identities"`
}

// Value returns the subject's identity of that kind, "" when it has none.
func (s Subject) Value(kind string) string {
	for _, id := range s.Identities {
		if id.Kind == kind {
			return id.Value
		}
	}
	return ""
}

// validate checks identities: a kind of lowercase letters, digits and
// '_', a value of 1 to 512 bytes, each kind once.
func (s Subject) validate() error {
	if len(s.Identities) == 0 {
		return fmt.Errorf("%w: a subject needs at least one identity", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, id := range s.Identities {
		switch {
		case !identityKind.MatchString(id.Kind):
			return fmt.Errorf("%w: identity kind %q: 1 to 32 of a-z, 0-9, '_', starting with a letter", ErrInvalid, id.Kind)
		case id.Value == "" || len(id.Value) > 512:
			return fmt.Errorf("%w: identity %s: the value must be 1 to 512 bytes", ErrInvalid, id.Kind)
		case seen[id.Kind]:
			return fmt.Errorf("%w: identity %s given twice", ErrInvalid, id.Kind)
		}
		seen[id.Kind] = true
	}
	return nil
}

// Kind is what a request asks for.
type Kind string

// Kinds of request.
const (
	Access        Kind = "access"        // a copy of the subject's data
	Portability   Kind = "portability"   // the same, machine-readable, to take elsewhere
	Erasure       Kind = "erasure"       // forget the subject
	Rectification Kind = "rectification" // correct the subject's data
	Restriction   Kind = "restriction"   // keep the data but stop processing it
)

// State is where a request is in its lifecycle.
type State string

// States: received → verified → in_progress → completed, or denied, or
// failed (a step failed or a legal hold stopped the erasure, LastError
// says which; processing again resumes it).
const (
	Received   State = "received"
	Verified   State = "verified"
	InProgress State = "in_progress"
	Completed  State = "completed"
	Denied     State = "denied"
	Failed     State = "failed"
)

// Regime is the law whose deadlines apply.
type Regime string

// Regimes.
const (
	GDPR Regime = "gdpr" // respond within one month, extendable by two
	CCPA Regime = "ccpa" // acknowledge within 10 business days; respond within 45 days, extendable by 45
)

// Request is a data-subject request.
type Request struct {
	ID       string  `json:"id"`
	TenantID string  `json:"tenant_id"`
	Kind     Kind    `json:"kind"`
	Regime   Regime  `json:"regime"`
	Subject  Subject `json:"subject"`
	State    State   `json:"state"`
	// Channel is how the request came (web form, email, API, ...).
	Channel string `json:"channel,omitempty"`

	ReceivedAt    time.Time       `json:"received_at"`
	AcknowledgeBy time.Time       `json:"acknowledge_by,omitzero"` // CCPA only
	DueAt         time.Time       `json:"due_at"`
	Extended      bool            `json:"extended,omitempty"`
	ExtensionNote string          `json:"extension_note,omitempty"` // the notice sent to the subject
	VerifiedAt    time.Time       `json:"verified_at,omitzero"`
	CompletedAt   time.Time       `json:"completed_at,omitzero"`
	DenialReason  string          `json:"denial_reason,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	Steps         map[string]Step `json:"steps,omitempty"` // by source name: the checkpoint of processing
	Version       int64           `json:"version"`         // optimistic concurrency
}

// Step is one source's part of processing a request.
type Step struct {
	Done bool `json:"done"`
	// Started is when the step's first attempt began, stored before it
	// erased anything.
	Started time.Time `json:"started,omitzero"`
	// Found is the records a Counter source held for the subject as the
	// first attempt began: a step run again reports at least as many.
	Found   int       `json:"found,omitempty"`
	At      time.Time `json:"at"`      // when the step last finished
	Records int       `json:"records"` // erased or masked
	Note    string    `json:"note,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Clone returns a copy of r that shares no slice or map with it, as a
// Store hands requests out and keeps them.
func (r *Request) Clone() *Request {
	c := *r
	c.Subject.Identities = slices.Clone(r.Subject.Identities)
	c.Steps = maps.Clone(r.Steps)
	return &c
}

// Deadlines computes a request's acknowledgement and response deadlines
// under its regime. GDPR (Art. 12(3)): one month from receipt (the same
// day next month, or that month's last day). CCPA
// (Cal. Code Regs. tit. 11, § 7021): acknowledge within 10 business days
// (weekends skipped; public holidays are not known here and count as
// business days, which errs early) and respond within 45 calendar days.
func Deadlines(regime Regime, received time.Time) (acknowledgeBy, due time.Time, err error) {
	switch regime {
	case GDPR:
		return time.Time{}, addMonths(received, 1), nil
	case CCPA:
		return addBusinessDays(received, 10), received.AddDate(0, 0, 45), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("%w: regime %q: want %q or %q", ErrInvalid, regime, GDPR, CCPA)
}

// extendedDue is the deadline after the one extension a regime allows:
// GDPR two further months, CCPA 45 further days.
func extendedDue(regime Regime, received time.Time) time.Time {
	if regime == CCPA {
		return received.AddDate(0, 0, 90)
	}
	return addMonths(received, 3)
}

// addMonths adds calendar months the way EU law counts them (Regulation
// 1182/71, Art. 3): the same day of the month, or the month's last day
// when it has no such day (31 January + 1 month = 28 or 29 February).
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

func addBusinessDays(t time.Time, n int) time.Time {
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

// RequestFilter selects requests; zero fields match anything.
type RequestFilter struct {
	State     State
	DueBefore time.Time
}

// Store keeps requests. gdpr/memstore and gdpr/sqlstore implement it;
// gdprtest is its conformance suite.
type Store interface {
	// Create stores a new request; ErrConflict if its ID is taken.
	Create(ctx context.Context, r *Request) error
	// Get returns the tenant's request; ErrNotFound otherwise.
	Get(ctx context.Context, tenantID, id string) (*Request, error)
	// Update replaces the request if r.Version is current, then
	// increments r.Version; ErrConflict when stale.
	Update(ctx context.Context, r *Request) error
	// List returns the tenant's requests matching f, by due date.
	List(ctx context.Context, tenantID string, f RequestFilter) ([]*Request, error)
}

// CheckStorable is the check every Store makes before it keeps a
// request: text that is not valid UTF-8 or that holds NUL bytes, which
// a database cannot keep as it is, is ErrInvalid, never silently
// replaced. For Store implementations.
func CheckStorable(r *Request) error {
	if !textfield.StorableValue(r) {
		return fmt.Errorf("%w: request %q holds text that is not valid UTF-8 or holds NUL bytes", ErrInvalid, r.ID)
	}
	return nil
}
