package consent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Options configure a Ledger.
type Options struct {
	// Now is the clock that stamps events and notices and judges expiry.
	// Default time.Now. Times are kept in UTC to the microsecond.
	Now func() time.Time
	// PseudonymKey is the HMAC-SHA256 key that turns an erased subject
	// into a pseudonym (see EraseSubject). Keep it secret and stable so
	// the controller can find an erased person's consent history again
	// from their identifier. Default: a random key made by New, so
	// pseudonyms link to nobody, not even across two Ledgers.
	PseudonymKey []byte
}

// Ledger records and answers consent. It is safe for concurrent use, and
// several Ledgers (in several processes) may share one Store.
type Ledger struct {
	store Store
	clock func() time.Time
	key   []byte
}

// retries bounds how often a write that lost a race is tried again.
const retries = 8

// New returns a Ledger over store.
func New(store Store, opts Options) (*Ledger, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: store: must not be nil", ErrInvalid)
	}
	l := &Ledger{store: store, clock: opts.Now, key: opts.PseudonymKey}
	if l.clock == nil {
		l.clock = time.Now
	}
	if len(l.key) == 0 {
		l.key = make([]byte, 32)
		_, _ = rand.Read(l.key) // crypto/rand.Read never fails
	}
	return l, nil
}

// now reads the clock in the form stores keep.
func (l *Ledger) now() time.Time { return normalize(l.clock()) }

// normalize returns t in UTC to the microsecond, the precision every
// store keeps.
func normalize(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

var (
	purposeKeyRule = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	languageRule   = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)
	hashRule       = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// pseudonymPrefix starts every pseudonym; subjects may not.
const pseudonymPrefix = "erased:"

// Limits on free-form fields, in bytes.
const (
	maxTenant      = 256
	maxSubject     = 512
	maxDescription = 4096
	maxSource      = 128
	maxProof       = 4096
	maxNoticeText  = 1 << 20
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkText checks a UTF-8 field of at most limit bytes, required or not.
func checkText(field, v string, limit int, required bool) error {
	if err := textfield.Check(field, v, limit, required); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// checkPurpose checks the tenant and the purpose key of a call.
func checkPurpose(tenantID, key string) error {
	if err := checkText("tenant", tenantID, maxTenant, true); err != nil {
		return err
	}
	if !purposeKeyRule.MatchString(key) {
		return invalid("purpose %q: must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", key)
	}
	return nil
}

// checkSubject checks the tenant and the subject of a call. Writes
// refuse pseudonyms as subjects.
func checkSubject(tenantID, subject string, write bool) error {
	if err := checkText("tenant", tenantID, maxTenant, true); err != nil {
		return err
	}
	if err := checkText("subject", subject, maxSubject, true); err != nil {
		return err
	}
	if write && strings.HasPrefix(subject, pseudonymPrefix) {
		return invalid("subject: %q is an erasure pseudonym", subject)
	}
	return nil
}

// checkCall checks the tenant, subject and purpose key of a call.
func checkCall(tenantID, subject, purpose string, write bool) error {
	if err := checkSubject(tenantID, subject, write); err != nil {
		return err
	}
	return checkPurpose(tenantID, purpose)
}

// DefinePurpose creates the tenant's purpose p.Key or updates its
// Description and Lifetime, and returns it with its notices. p.Notices
// is ignored: publish notices with PublishNotice.
func (l *Ledger) DefinePurpose(ctx context.Context, tenantID string, p Purpose) (*Purpose, error) {
	if err := checkPurpose(tenantID, p.Key); err != nil {
		return nil, err
	}
	if err := checkText("description", p.Description, maxDescription, false); err != nil {
		return nil, err
	}
	if p.Lifetime < 0 {
		return nil, invalid("purpose %q: lifetime: must not be negative", p.Key)
	}
	for range retries {
		cur, err := l.find(ctx, tenantID, p.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		next := &Purpose{TenantID: tenantID, Key: p.Key, Description: p.Description, Lifetime: p.Lifetime}
		if cur != nil {
			next.Revision, next.Notices = cur.Revision, cur.Notices
		}
		err = l.store.SavePurpose(ctx, next, nil)
		if errors.Is(err, ErrConflict) {
			continue // defined or changed meanwhile: read it again
		}
		if err != nil {
			return nil, err
		}
		return next, nil
	}
	return nil, fmt.Errorf("purpose %q: changed by others %d times in a row: %w", p.Key, retries, ErrConflict)
}

// PublishNotice publishes a notice of the tenant's purpose n.Purpose and
// returns it as stored. Give the text (kept, and hashed) or only its
// SHA256 (when the text lives elsewhere); with both, they must match.
//
// With n.Version 0 the notice becomes the next version, unless the
// latest version already has this text in this language with the same
// RequiresReconsent: then that notice is returned, so publishing the
// current text at every start is harmless. With a published n.Version
// the notice adds a language to that version; publishing a version and
// language again returns the notice when the hash is the same, and fails
// with ErrConflict when it differs, because published texts never change.
func (l *Ledger) PublishNotice(ctx context.Context, tenantID string, n Notice) (*Notice, error) {
	if err := checkPurpose(tenantID, n.Purpose); err != nil {
		return nil, err
	}
	if !languageRule.MatchString(n.Language) {
		return nil, invalid("notice language %q: must be a BCP 47 tag such as \"en\" or \"pt-BR\"", n.Language)
	}
	if n.Version < 0 {
		return nil, invalid("notice version %d: must not be negative", n.Version)
	}
	if err := checkText("notice text", n.Text, maxNoticeText, false); err != nil {
		return nil, err
	}
	n.SHA256 = strings.ToLower(n.SHA256)
	switch {
	case n.Text == "" && n.SHA256 == "":
		return nil, invalid("notice: give its text or its sha256")
	case n.Text != "" && n.SHA256 != "" && n.SHA256 != Hash(n.Text):
		return nil, fmt.Errorf("%w: notice sha256 %s is not the hash of its text (%s)", ErrNoticeMismatch, n.SHA256, Hash(n.Text))
	case n.Text != "":
		n.SHA256 = Hash(n.Text)
	case !hashRule.MatchString(n.SHA256):
		return nil, invalid("notice sha256 %q: must be 64 hex digits", n.SHA256)
	}
	for range retries {
		p, err := l.find(ctx, tenantID, n.Purpose)
		if err != nil {
			return nil, err
		}
		next := n
		if n.Version == 0 {
			next.Version = p.latestVersion() + 1
			if cur := p.Notice(next.Version-1, n.Language); cur != nil && cur.SHA256 == n.SHA256 && cur.RequiresReconsent == n.RequiresReconsent {
				return cur, nil
			}
		} else {
			siblings := p.version(n.Version)
			switch cur := p.Notice(n.Version, n.Language); {
			case len(siblings) == 0:
				return nil, fmt.Errorf("%w: purpose %q has no notice version %d to translate; publish with version 0 for a new version", ErrNotFound, n.Purpose, n.Version)
			case cur != nil && cur.SHA256 == n.SHA256:
				return cur, nil
			case cur != nil:
				return nil, fmt.Errorf("purpose %q notice version %d (%s) is published with another text and never changes; publish a new version: %w", n.Purpose, n.Version, n.Language, ErrConflict)
			case siblings[0].RequiresReconsent != n.RequiresReconsent:
				return nil, invalid("notice requires_reconsent: version %d has %t in its other languages", n.Version, siblings[0].RequiresReconsent)
			}
		}
		next.PublishedAt = l.now()
		err = l.store.SavePurpose(ctx, p, &next)
		if errors.Is(err, ErrConflict) {
			continue // another publication won: read the versions again
		}
		if err != nil {
			return nil, err
		}
		return &next, nil
	}
	return nil, fmt.Errorf("purpose %q: changed by others %d times in a row: %w", n.Purpose, retries, ErrConflict)
}

// Purpose returns the tenant's purpose with its notices.
func (l *Ledger) Purpose(ctx context.Context, tenantID, key string) (*Purpose, error) {
	if err := checkPurpose(tenantID, key); err != nil {
		return nil, err
	}
	return l.find(ctx, tenantID, key)
}

// Purposes returns the tenant's purposes with their notices, by key.
func (l *Ledger) Purposes(ctx context.Context, tenantID string) ([]*Purpose, error) {
	if err := checkText("tenant", tenantID, maxTenant, true); err != nil {
		return nil, err
	}
	return l.store.Purposes(ctx, tenantID)
}

// find reads a purpose; ErrNotFound when the tenant has none by that key.
func (l *Ledger) find(ctx context.Context, tenantID, key string) (*Purpose, error) {
	ps, err := l.store.Purposes(ctx, tenantID, key)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: purpose %q of tenant %q", ErrNotFound, key, tenantID)
	}
	return ps[0], nil
}

// Grant is a subject's consent as the ledger records it.
type Grant struct {
	// NoticeVersion and NoticeHash name the notice the subject saw: its
	// version and the hex SHA-256 of the exact text (see Hash). Both are
	// required and must match a published notice of the purpose.
	NoticeVersion int
	NoticeHash    string
	// Source is the channel: "web-form", "api", "import", ...
	Source string
	// Proof backs the grant up: a form submission ID, an IP hash, a
	// signature. Erasure clears it.
	Proof string
	// ExpiresAt is when the consent lapses. Zero: the purpose's Lifetime
	// after the grant, or never when it has none.
	ExpiresAt time.Time
}

// Withdrawal is a subject's withdrawal of consent: as easy to give as a
// grant, and needing no notice.
type Withdrawal struct {
	// Source is the channel: "unsubscribe-link", "settings", "api", ...
	Source string
	// Proof backs the withdrawal up; erasure clears it.
	Proof string
}

// Grant records that subject consented to the tenant's purpose, having
// seen the notice g names, and returns the event. A grant for a notice
// version older than the purpose's ReconsentFrom is recorded (it is what
// happened) but allows no processing: Status says re-consent is required.
func (l *Ledger) Grant(ctx context.Context, tenantID, subject, purpose string, g Grant) (*Event, error) {
	if err := checkCall(tenantID, subject, purpose, true); err != nil {
		return nil, err
	}
	if err := checkVia(g.Source, g.Proof); err != nil {
		return nil, err
	}
	hash := strings.ToLower(g.NoticeHash)
	switch {
	case g.NoticeVersion <= 0:
		return nil, invalid("notice version %d: a grant names the positive version of the notice shown", g.NoticeVersion)
	case !hashRule.MatchString(hash):
		return nil, invalid("notice hash %q: must be the 64 hex digits of the shown text's SHA-256", g.NoticeHash)
	}
	p, err := l.find(ctx, tenantID, purpose)
	if err != nil {
		return nil, err
	}
	version := p.version(g.NoticeVersion)
	var seen *Notice
	for _, n := range version {
		if n.SHA256 == hash {
			seen = n
		}
	}
	switch {
	case len(version) == 0:
		return nil, fmt.Errorf("%w: purpose %q has no notice version %d", ErrNotFound, purpose, g.NoticeVersion)
	case seen == nil:
		return nil, fmt.Errorf("%w: %s is the hash of no text of purpose %q notice version %d", ErrNoticeMismatch, hash, purpose, g.NoticeVersion)
	}
	e := &Event{
		TenantID: tenantID, Subject: subject, Purpose: purpose, Action: ActionGrant, At: l.now(),
		NoticeVersion: seen.Version, NoticeLanguage: seen.Language, NoticeHash: seen.SHA256,
		ExpiresAt: normalize(g.ExpiresAt), Source: g.Source, Proof: g.Proof,
	}
	if e.ExpiresAt.IsZero() && p.Lifetime > 0 {
		e.ExpiresAt = e.At.Add(p.Lifetime)
	}
	if !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(e.At) {
		return nil, invalid("expires_at %s: must be after the grant at %s", e.ExpiresAt.Format(time.RFC3339Nano), e.At.Format(time.RFC3339Nano))
	}
	if err := l.store.Append(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

// Withdraw records that subject withdrew consent to the tenant's
// purpose and returns the event. Withdrawing what was never granted is
// recorded too: it is the subject's word.
func (l *Ledger) Withdraw(ctx context.Context, tenantID, subject, purpose string, w Withdrawal) (*Event, error) {
	if err := checkCall(tenantID, subject, purpose, true); err != nil {
		return nil, err
	}
	if err := checkVia(w.Source, w.Proof); err != nil {
		return nil, err
	}
	if _, err := l.find(ctx, tenantID, purpose); err != nil {
		return nil, err
	}
	e := &Event{TenantID: tenantID, Subject: subject, Purpose: purpose, Action: ActionWithdraw, At: l.now(), Source: w.Source, Proof: w.Proof}
	if err := l.store.Append(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

func checkVia(source, proof string) error {
	if err := checkText("source", source, maxSource, false); err != nil {
		return err
	}
	return checkText("proof", proof, maxProof, false)
}

// Status returns the subject's current consent to the tenant's purpose,
// read from the current state without scanning history.
func (l *Ledger) Status(ctx context.Context, tenantID, subject, purpose string) (State, error) {
	if err := checkCall(tenantID, subject, purpose, false); err != nil {
		return State{}, err
	}
	p, err := l.find(ctx, tenantID, purpose)
	if err != nil {
		return State{}, err
	}
	cur, err := l.store.Events(ctx, tenantID, subject, EventFilter{Purpose: purpose, Current: true})
	if err != nil {
		return State{}, err
	}
	var e *Event
	if len(cur) > 0 {
		e = cur[0]
	}
	return state(p, e, l.now()), nil
}

// Allowed reports whether the subject's consent allows processing for
// the tenant's purpose: granted, not expired, and needing no re-consent.
// It is the check processing code calls; Status says why not.
func (l *Ledger) Allowed(ctx context.Context, tenantID, subject, purpose string) (bool, error) {
	s, err := l.Status(ctx, tenantID, subject, purpose)
	return s.Allowed(), err
}

// Subject returns the subject's state for every purpose of the tenant,
// by purpose (Never for those without events).
func (l *Ledger) Subject(ctx context.Context, tenantID, subject string) ([]State, error) {
	if err := checkSubject(tenantID, subject, false); err != nil {
		return nil, err
	}
	ps, err := l.store.Purposes(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	cur, err := l.currentByPurpose(ctx, tenantID, subject)
	if err != nil {
		return nil, err
	}
	now := l.now()
	out := make([]State, 0, len(ps))
	for _, p := range ps {
		out = append(out, state(p, cur[p.Key], now))
	}
	return out, nil
}

// currentByPurpose returns the subject's current events by purpose.
func (l *Ledger) currentByPurpose(ctx context.Context, tenantID, subject string) (map[string]*Event, error) {
	evs, err := l.store.Events(ctx, tenantID, subject, EventFilter{Current: true})
	if err != nil {
		return nil, err
	}
	m := make(map[string]*Event, len(evs))
	for _, e := range evs {
		m[e.Purpose] = e
	}
	return m, nil
}

// History returns the subject's events for the tenant's purpose, oldest
// first. For an erased subject, ask with its Pseudonym.
func (l *Ledger) History(ctx context.Context, tenantID, subject, purpose string) ([]*Event, error) {
	if err := checkCall(tenantID, subject, purpose, false); err != nil {
		return nil, err
	}
	if _, err := l.find(ctx, tenantID, purpose); err != nil {
		return nil, err
	}
	return l.store.Events(ctx, tenantID, subject, EventFilter{Purpose: purpose})
}
