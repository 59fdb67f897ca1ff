package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Errors. Every error the package returns wraps one of them once, with
// the tenant, sequence number or field it is about.
var (
	// ErrInvalid reports an argument that breaks a rule (an empty actor,
	// a subject that is not a pseudonym, a denial without a basis, ...);
	// the message names the field and the rule.
	ErrInvalid = errors.New("audit: invalid")
	// ErrNotFound reports a tenant without records (Store.Last).
	ErrNotFound = errors.New("audit: not found")
	// ErrConflict reports an append that lost a race: the tenant's chain
	// no longer ends where the record says it does. Trail.Append retries
	// it; it returns it only after Options.MaxAttempts tries.
	ErrConflict = errors.New("audit: conflict")
	// ErrTampered is wrapped by Report.Err when a chain is broken.
	ErrTampered = errors.New("audit: trail tampered with")
	// ErrBadSignature reports a checkpoint whose signature does not
	// verify under Options.CheckpointKey: forged, altered, unsigned, or
	// signed with another key.
	ErrBadSignature = errors.New("audit: checkpoint signature does not verify")
)

// ZeroHash is the PrevHash of a tenant's first record: 64 zeros.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Record is one entry of a tenant's trail. Trail.Append fills TenantID,
// Seq, Time, PrevHash and Hash; the caller gives the rest.
//
// A record holds no personal data: Subject is a pseudonym (see
// Pseudonym), Actor names a member of staff or a system, and Details
// must not carry names, emails or other identifiers of the subject.
type Record struct {
	// TenantID is the tenant whose trail holds the record.
	TenantID string `json:"tenant_id"`
	// Seq numbers the tenant's records 1, 2, 3, ... without gaps.
	Seq uint64 `json:"seq"`
	// Time is when the record was appended, UTC to the microsecond.
	Time time.Time `json:"time"`
	// Actor is who did it: a staff member's ID, a service, "system".
	// Required.
	Actor string `json:"actor"`
	// Action is what was done: "dsr.received", "dsr.completed",
	// "export.downloaded", "retention.swept", ... Required.
	Action string `json:"action"`
	// Subject is the pseudonym of the data subject (Pseudonym's output,
	// 64 lowercase hex digits), or empty when the action concerns no one
	// in particular. A raw identity is refused.
	Subject string `json:"subject,omitempty"`
	// Request, for records about a consumer request, holds what CCPA
	// record-keeping (Cal. Code Regs. tit. 11, § 7101(b)) requires.
	Request *Request `json:"request,omitempty"`
	// Details are free key/value notes: a source's name, a record count,
	// a ticket number. No personal data.
	Details map[string]string `json:"details,omitempty"`
	// PrevHash is the Hash of the previous record, or ZeroHash for the
	// first.
	PrevHash string `json:"prev_hash"`
	// Hash is ComputeHash of this record, in lowercase hex.
	Hash string `json:"hash"`
}

// Request is the part of a record that describes a consumer request: the
// fields § 7101(b) asks a business to keep for 24 months. Record one
// when the request arrives (without a response) and one when it is
// answered (with it).
type Request struct {
	// ID is the request's ID in the service (gdpr.Request.ID). Optional.
	ID string `json:"id,omitempty"`
	// ReceivedAt is the date of the request. Required.
	ReceivedAt time.Time `json:"received_at"`
	// Kind is the nature of the request: "access", "deletion",
	// "correction", "opt_out", ... Required.
	Kind string `json:"kind"`
	// Channel is the manner in which the request was made: "web form",
	// "email", "toll-free number", ... Required.
	Channel string `json:"channel"`
	// RespondedAt is the date of the business's response; zero until
	// there is one, and set exactly when Response is.
	RespondedAt time.Time `json:"responded_at,omitzero"`
	// Response is the nature of the response; empty until there is one.
	Response Response `json:"response,omitempty"`
	// DenialBasis is the basis for denying the request in whole or in
	// part: required when Response is Denied or PartiallyDenied, empty
	// otherwise.
	DenialBasis string `json:"denial_basis,omitempty"`
}

// Response is the nature of a business's response to a request.
type Response string

// Responses.
const (
	Complied        Response = "complied"         // the request was honoured in full
	PartiallyDenied Response = "partially_denied" // honoured in part; DenialBasis says why not all
	Denied          Response = "denied"           // refused; DenialBasis says why
)

// denies reports whether r denies the request in whole or in part.
func (r Response) denies() bool { return r == Denied || r == PartiallyDenied }

// hashDomain starts the encoding of every record, so that a record's
// hash can never be mistaken for the hash of anything else.
const hashDomain = "saaskit.gdpr.audit.record.v1"

// ComputeHash returns the SHA-256, in lowercase hex, of the canonical
// encoding of r: every field but Hash itself, PrevHash included. The
// package documentation specifies the encoding, so that anyone can
// recompute it.
func (r Record) ComputeHash() string {
	e := encoder{h: sha256.New()}
	e.field(hashDomain)
	e.field(r.TenantID)
	e.field(strconv.FormatUint(r.Seq, 10))
	e.field(timeText(r.Time))
	e.field(r.Actor)
	e.field(r.Action)
	e.field(r.Subject)
	if q := r.Request; q == nil {
		e.field("0")
	} else {
		e.field("1")
		e.field(q.ID)
		e.field(timeText(q.ReceivedAt))
		e.field(q.Kind)
		e.field(q.Channel)
		e.field(timeText(q.RespondedAt))
		e.field(string(q.Response))
		e.field(q.DenialBasis)
	}
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.field(strconv.Itoa(len(keys)))
	for _, k := range keys {
		e.field(k)
		e.field(r.Details[k])
	}
	e.field(r.PrevHash)
	return hex.EncodeToString(e.h.Sum(nil))
}

// timeLayout writes instants in UTC with exactly six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeText is t in timeLayout, or "" for the zero time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// encoder writes length-prefixed fields into a hash.
type encoder struct {
	h hash.Hash
}

// field writes the length of s as 8 bytes big-endian, then s.
func (e encoder) field(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	_, _ = e.h.Write(n[:]) // hash writes never fail
	_, _ = e.h.Write([]byte(s))
}

// pseudonymDomain starts the message of every pseudonym.
const pseudonymDomain = "saaskit.gdpr.audit.pseudonym.v1"

// Pseudonym returns the subject reference the trail keeps for identity
// (a user ID, an email) in the tenant: HMAC-SHA256 under key of the
// tenant and the identity, in lowercase hex. The same key, tenant and
// identity always give the same pseudonym, so a subject's records can be
// found again from their identity; without the key a pseudonym links to
// no one, and different tenants or keys give unrelated pseudonyms. Use a
// secret key of 32 random bytes, kept apart from the trail; erasing a
// subject's data leaves the trail as it is, and the records then refer
// to no one the trail can name.
func Pseudonym(key []byte, tenantID, identity string) string {
	m := hmac.New(sha256.New, key)
	e := encoder{h: m}
	e.field(pseudonymDomain)
	e.field(tenantID)
	e.field(identity)
	return hex.EncodeToString(m.Sum(nil))
}

// hexHash matches a SHA-256 in lowercase hex, the form of hashes and
// pseudonyms.
var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Limits on text fields, in bytes.
const (
	maxTenant  = 256
	maxName    = 256 // actor, action, kind, channel, response, detail keys
	maxText    = 4096
	maxDetails = 64
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// text checks a field that stores must keep as text: at most limit
// bytes of UTF-8 without NUL, and not empty when required.
func text(field, v string, limit int, required bool) error {
	if err := textfield.Check(field, v, limit, required); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// check validates the caller's part of r.
func (r *Record) check() error {
	if err := text("Actor", r.Actor, maxName, true); err != nil {
		return err
	}
	if err := text("Action", r.Action, maxName, true); err != nil {
		return err
	}
	if r.Subject != "" && !hexHash.MatchString(r.Subject) {
		return invalid("Subject: must be a pseudonym (64 lowercase hex digits from Pseudonym), not a raw identity")
	}
	if r.Request != nil {
		if err := r.Request.check(); err != nil {
			return err
		}
	}
	if len(r.Details) > maxDetails {
		return invalid("Details: must hold at most %d entries, holds %d", maxDetails, len(r.Details))
	}
	for k, v := range r.Details {
		if err := text("Details key", k, maxName, true); err != nil {
			return err
		}
		if err := text("Details["+strconv.Quote(k)+"]", v, maxText, false); err != nil {
			return err
		}
	}
	return nil
}

// check validates a request's § 7101 fields.
func (q *Request) check() error {
	if err := text("Request.ID", q.ID, maxName, false); err != nil {
		return err
	}
	if q.ReceivedAt.IsZero() {
		return invalid("Request.ReceivedAt: must be set")
	}
	if err := text("Request.Kind", q.Kind, maxName, true); err != nil {
		return err
	}
	if err := text("Request.Channel", q.Channel, maxName, true); err != nil {
		return err
	}
	switch q.Response {
	case "", Complied, PartiallyDenied, Denied:
	default:
		return invalid("Request.Response: %q is not complied, partially_denied or denied", q.Response)
	}
	switch {
	case q.Response != "" && q.RespondedAt.IsZero():
		return invalid("Request.RespondedAt: must be set with Response")
	case q.Response == "" && !q.RespondedAt.IsZero():
		return invalid("Request.Response: must be set with RespondedAt")
	case q.RespondedAt.Before(q.ReceivedAt) && !q.RespondedAt.IsZero():
		return invalid("Request.RespondedAt: must not precede ReceivedAt")
	case q.Response.denies() && q.DenialBasis == "":
		return invalid("Request.DenialBasis: must be set when Response is %s", q.Response)
	case !q.Response.denies() && q.DenialBasis != "":
		return invalid("Request.DenialBasis: must be empty unless Response is denied or partially_denied")
	}
	return text("Request.DenialBasis", q.DenialBasis, maxText, false)
}

// normalize returns t in UTC to the microsecond, the precision every
// store keeps, or the zero time.
func normalize(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Clone returns a copy of r that shares no memory with it, as a Store
// keeps records and hands them out; empty Details become nil.
func (r Record) Clone() Record {
	if r.Request != nil {
		q := *r.Request
		r.Request = &q
	}
	r.Details = maps.Clone(r.Details)
	if len(r.Details) == 0 {
		r.Details = nil
	}
	return r
}
