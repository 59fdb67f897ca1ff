package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Errors. Every error the package returns wraps one of them once, with
// the tenant, subject, purpose or field it is about.
var (
	// ErrInvalid reports an argument that breaks a rule (an empty
	// subject, a malformed hash, ...); the message names the field.
	ErrInvalid = errors.New("consent: invalid")
	// ErrNotFound reports an unknown purpose or notice version, also when
	// it belongs to another tenant.
	ErrNotFound = errors.New("consent: not found")
	// ErrConflict reports a write that lost a race on a purpose (a stale
	// revision) or an attempt to change a published notice.
	ErrConflict = errors.New("consent: conflict")
	// ErrNoticeMismatch reports a hash that is not the hash of the notice
	// text it claims to be: a grant for a text other than the published
	// one. It wraps ErrInvalid.
	ErrNoticeMismatch = fmt.Errorf("%w: notice hash mismatch", ErrInvalid)
)

// Hash returns the hex SHA-256 of text: the form of Notice.SHA256 and
// Grant.NoticeHash. Hash exactly the text shown to the subject.
func Hash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// Purpose is something a tenant asks consent for ("marketing-email",
// "analytics"), with the notices that describe it to subjects.
type Purpose struct {
	TenantID string `json:"tenant_id"`
	// Key names the purpose: 1 to 64 of a-z, 0-9, '.', '_' and '-',
	// starting with a letter or digit.
	Key string `json:"key"`
	// Description is for the controller's records; subjects see notices.
	Description string `json:"description,omitempty"`
	// Lifetime makes grants lapse: a grant without its own ExpiresAt
	// expires Lifetime after it was given. The lifetime in force when a
	// consent is granted is recorded on the event, so changing it later
	// leaves earlier grants as they were. Zero: grants do not expire.
	Lifetime time.Duration `json:"-"`
	// Notices are the published notices, by version then language, as
	// read from the store; Store.SavePurpose ignores them.
	Notices []*Notice `json:"notices,omitempty"`
	// Revision counts saves, for optimistic concurrency; 0 before the
	// first save.
	Revision int64 `json:"-"`
}

// ReconsentFrom returns the highest notice version that requires
// re-consent: grants for earlier versions no longer allow processing.
// Zero when no version requires it.
func (p *Purpose) ReconsentFrom() int {
	v := 0
	for _, n := range p.Notices {
		if n.RequiresReconsent {
			v = max(v, n.Version)
		}
	}
	return v
}

// Latest returns the notice of the highest version published in
// language, or nil: the notice to show a subject who reads language.
func (p *Purpose) Latest(language string) *Notice {
	var latest *Notice
	for _, n := range p.Notices {
		if n.Language == language && (latest == nil || n.Version > latest.Version) {
			latest = n
		}
	}
	return latest
}

// Notice returns the purpose's notice of version in language, or nil.
func (p *Purpose) Notice(version int, language string) *Notice {
	for _, n := range p.Notices {
		if n.Version == version && n.Language == language {
			return n
		}
	}
	return nil
}

// version returns the notices of version, in every language.
func (p *Purpose) version(v int) []*Notice {
	var ns []*Notice
	for _, n := range p.Notices {
		if n.Version == v {
			ns = append(ns, n)
		}
	}
	return ns
}

// latestVersion returns the highest published version, 0 when none.
func (p *Purpose) latestVersion() int {
	v := 0
	for _, n := range p.Notices {
		v = max(v, n.Version)
	}
	return v
}

// Clone returns a copy of p and its notices that shares nothing with
// p, as a Store hands purposes out and keeps them.
func (p *Purpose) Clone() *Purpose {
	c := *p
	c.Notices = make([]*Notice, len(p.Notices))
	for i, n := range p.Notices {
		nc := *n
		c.Notices[i] = &nc
	}
	return &c
}

// Notice is one version of the text that asks a subject for consent to a
// purpose, in one language. A version may be published in several
// languages; each is a Notice with its own hash. Published notices never
// change: a new text is a new version.
type Notice struct {
	Purpose string `json:"purpose"`
	// Version numbers the purpose's texts from 1. PublishNotice assigns
	// the next version when it is 0; a published version adds a
	// translation of it.
	Version int `json:"version"`
	// Language of the text, a BCP 47 tag such as "en" or "pt-BR".
	Language string `json:"language"`
	// SHA256 is the hex SHA-256 of the exact text shown (see Hash).
	SHA256 string `json:"sha256"`
	// Text is the notice itself, kept when given at publication; empty
	// when the controller keeps texts elsewhere and publishes the hash.
	Text string `json:"text,omitempty"`
	// RequiresReconsent makes grants for earlier versions stop allowing
	// processing once this version is published: subjects must consent
	// to this text (or a later one) again. Every language of a version
	// shares it.
	RequiresReconsent bool      `json:"requires_reconsent,omitempty"`
	PublishedAt       time.Time `json:"published_at"`
}

// Action is what an event records.
type Action string

// Actions.
const (
	ActionGrant    Action = "grant"    // the subject gave consent
	ActionWithdraw Action = "withdraw" // the subject withdrew it
)

// Event is one entry of a subject's consent history for a purpose.
// History is append-only; only erasure rewrites it (see EraseSubject).
type Event struct {
	TenantID string `json:"tenant_id"`
	Subject  string `json:"subject"`
	Purpose  string `json:"purpose"`
	// Seq orders the events of one subject and purpose from 1, in the
	// order the store wrote them; the store assigns it.
	Seq    int64  `json:"seq"`
	Action Action `json:"action"`
	// At is when the ledger recorded the event, by Options.Now. It never
	// decreases along Seq: an event whose clock reading is before the
	// previous event's (it lost a race, or its process's clock is
	// behind) takes the previous event's time.
	At time.Time `json:"at"`
	// NoticeVersion, NoticeLanguage and NoticeHash identify the text the
	// subject consented to (grants only).
	NoticeVersion  int    `json:"notice_version,omitempty"`
	NoticeLanguage string `json:"notice_language,omitempty"`
	NoticeHash     string `json:"notice_sha256,omitempty"`
	// ExpiresAt is when a grant lapses; zero: never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Source is the channel: "web-form", "api", "import", ...
	Source string `json:"source,omitempty"`
	// Proof is a reference that backs the event up: a form submission
	// ID, an IP hash, a signature. Erasure clears it.
	Proof string `json:"proof,omitempty"`
}

// Status is the state of a subject's consent to a purpose.
type Status string

// Statuses.
const (
	Never     Status = "never"     // no event
	Granted   Status = "granted"   // the last event is a grant, not expired
	Withdrawn Status = "withdrawn" // the last event is a withdrawal
	Expired   Status = "expired"   // the last event is a grant past its ExpiresAt
)

// State is a subject's current consent to a purpose.
type State struct {
	Purpose string `json:"purpose"`
	Status  Status `json:"status"`
	// Event is the event that set the status; nil when Never.
	Event *Event `json:"event,omitempty"`
	// ReconsentRequired is set on a grant for a notice version older than
	// the purpose's ReconsentFrom: granted, but no longer allowing
	// processing.
	ReconsentRequired bool `json:"reconsent_required,omitempty"`
	// Reason says why processing is not allowed; empty when it is.
	Reason string `json:"reason,omitempty"`
}

// Allowed reports whether the state allows processing: granted, not
// expired, and for a notice version that needs no re-consent.
func (s State) Allowed() bool { return s.Status == Granted && !s.ReconsentRequired }

// state returns the state that e (the current event, nil for none) sets
// for purpose p at now.
func state(p *Purpose, e *Event, now time.Time) State {
	s := State{Purpose: p.Key, Event: e}
	switch {
	case e == nil:
		s.Status, s.Reason = Never, "never granted"
	case e.Action == ActionWithdraw:
		s.Status, s.Reason = Withdrawn, "withdrawn at "+e.At.Format(time.RFC3339)
	case !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt):
		s.Status, s.Reason = Expired, "expired at "+e.ExpiresAt.Format(time.RFC3339)
	default:
		s.Status = Granted
		if from := p.ReconsentFrom(); e.NoticeVersion < from {
			s.ReconsentRequired = true
			s.Reason = fmt.Sprintf("granted for notice version %d; version %d requires consent again", e.NoticeVersion, from)
		}
	}
	return s
}
