package gdpr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Restricter is a Source that can restrict processing of a subject's
// data (GDPR Art. 18): the data stays, marked, and the source's users
// must not process it until the mark is lifted. Process calls it for
// restriction requests.
type Restricter interface {
	// Restrict marks (restricted) or unmarks the subject's data.
	Restrict(ctx context.Context, tenantID string, s Subject, restricted bool) error
}

// Expirer is a Source that can delete or anonymize its records of a
// data category older than a time, for retention sweeps: every record
// older than that, whether it belongs to a known subject or to none,
// except those held. held reports whether a subject key's records are
// held; held("") whether the tenant's records that name no subject are
// (only a tenant-wide hold holds them).
type Expirer interface {
	// Expire deletes the tenant's records of category from before
	// before, skipping the held ones, and returns how many it deleted.
	Expire(ctx context.Context, tenantID, category string, before time.Time, held func(subjectKey string) bool) (int, error)
}

// RetentionPolicy is the longest a data category may be kept.
type RetentionPolicy struct {
	Category string
	MaxAge   time.Duration
}

// Hold is a legal hold: while it stands, the data it covers must not be
// deleted by erasures or retention sweeps, whatever the policy. A hold
// with an empty SubjectKey covers all of the tenant's data; otherwise it
// covers the subject with that SubjectKey identity.
type Hold struct {
	TenantID   string    `json:"tenant_id"`
	SubjectKey string    `json:"subject_key,omitempty"`
	Reason     string    `json:"reason"`
	PlacedAt   time.Time `json:"placed_at"`
}

// Validate checks that h names a tenant and a reason, and that its text
// can be stored as it is (valid UTF-8, no NUL bytes). HoldStore
// implementations call it before they keep a hold.
func (h Hold) Validate() error {
	if h.TenantID == "" || strings.TrimSpace(h.Reason) == "" {
		return fmt.Errorf("%w: a legal hold needs a tenant and a reason", ErrInvalid)
	}
	if !textfield.Storable(h.TenantID, h.SubjectKey, h.Reason) {
		return fmt.Errorf("%w: legal hold of tenant %q holds text that is not valid UTF-8 or holds NUL bytes", ErrInvalid, h.TenantID)
	}
	return nil
}

// HoldStore keeps legal holds where every process of the service reads
// them, so that a hold placed through one replica blocks an erasure
// through another at once, and survives restarts. gdpr/memstore keeps
// them in one process, for tests; gdpr/sqlstore in SQLite or
// PostgreSQL. gdprtest.RunHoldStoreTests is the conformance suite.
type HoldStore interface {
	// PutHold places h, or replaces the reason and time of the hold on
	// the same tenant and subject key. ErrInvalid if h.Validate fails.
	PutHold(ctx context.Context, h Hold) error
	// ReleaseHold lifts the hold on the tenant (subjectKey "") or on
	// one of its subjects; ErrNotFound if there is none.
	ReleaseHold(ctx context.Context, tenantID, subjectKey string) error
	// Holds returns the tenant's holds by subject key, the tenant-wide
	// hold (if any) first.
	Holds(ctx context.Context, tenantID string) ([]Hold, error)
}

// PlaceHold places a legal hold on the tenant's data (subjectKey "") or
// on one subject's, identified by its SubjectKey identity, at the
// engine's time. It needs Options.Holds.
func (e *Engine) PlaceHold(ctx context.Context, tenantID, subjectKey, reason string) (Hold, error) {
	if e.opts.Holds == nil {
		return Hold{}, fmt.Errorf("%w: legal holds need Options.Holds", ErrInvalid)
	}
	h := Hold{TenantID: tenantID, SubjectKey: subjectKey, Reason: reason, PlacedAt: e.opts.Now().UTC()}
	if err := e.opts.Holds.PutHold(ctx, h); err != nil {
		return Hold{}, err
	}
	return h, nil
}

// ReleaseHold lifts a legal hold placed with PlaceHold.
func (e *Engine) ReleaseHold(ctx context.Context, tenantID, subjectKey string) error {
	if e.opts.Holds == nil {
		return fmt.Errorf("legal hold of tenant %q, subject %q: %w", tenantID, subjectKey, ErrNotFound)
	}
	return e.opts.Holds.ReleaseHold(ctx, tenantID, subjectKey)
}

// Holds returns the tenant's legal holds, the tenant-wide one first.
func (e *Engine) Holds(ctx context.Context, tenantID string) ([]Hold, error) {
	if e.opts.Holds == nil {
		return nil, nil
	}
	return e.opts.Holds.Holds(ctx, tenantID)
}

// CheckErasable returns an error wrapping ErrHeld when a legal hold
// forbids erasing the subject's data, and nil when none does: for an
// application that deletes a subject's data itself, outside Process,
// so that its deletions respect the same holds.
func (e *Engine) CheckErasable(ctx context.Context, tenantID string, s Subject) error {
	holds, err := e.holdsOf(ctx, tenantID)
	if err != nil {
		return err
	}
	if held, reason := holds.heldForErasure(s); held {
		return fmt.Errorf("%w: %s", ErrHeld, reason)
	}
	return nil
}

// tenantHolds is what a tenant's holds forbid, read once from the store.
type tenantHolds struct {
	tenant   *Hold           // the tenant-wide hold, if any
	subjects map[string]Hold // by subject key
}

// holdsOf reads the tenant's holds; none without Options.Holds.
func (e *Engine) holdsOf(ctx context.Context, tenantID string) (tenantHolds, error) {
	th := tenantHolds{subjects: map[string]Hold{}}
	if e.opts.Holds == nil {
		return th, nil
	}
	holds, err := e.opts.Holds.Holds(ctx, tenantID)
	if err != nil {
		return th, fmt.Errorf("legal holds of tenant %s: %w", tenantID, err)
	}
	for _, h := range holds {
		if h.SubjectKey == "" {
			th.tenant = &h
		} else {
			th.subjects[h.SubjectKey] = h
		}
	}
	return th, nil
}

// held reports whether the subject's data (or all the tenant's, for
// subjectKey "") is held, and why.
func (th tenantHolds) held(subjectKey string) (bool, string) {
	if th.tenant != nil {
		return true, th.tenant.Reason
	}
	h, ok := th.subjects[subjectKey]
	return ok, h.Reason
}

// heldForErasure reports whether erasing the subject would touch held
// data. Holds name subjects by their SubjectKey identity: a subject
// named without one cannot be matched, so while any subject of the
// tenant is held, such an erasure is refused rather than risked.
func (th tenantHolds) heldForErasure(s Subject) (bool, string) {
	if key := s.Value(SubjectKey); key != "" {
		return th.held(key)
	}
	if th.tenant != nil {
		return true, th.tenant.Reason
	}
	if len(th.subjects) > 0 {
		return true, "subjects of this tenant are under legal hold, and the request names no " + SubjectKey + " to tell them apart"
	}
	return false, ""
}

// ErrHeld means a legal hold blocks the deletion.
var ErrHeld = errors.New("gdpr: data under legal hold")

// SweepResult is what a retention sweep did per source and category.
type SweepResult struct {
	Source, Category string
	Expired          int
	Error            string
}

// Sweep applies retention policies to a tenant: each source that is an
// Expirer and holds a policy's category deletes or anonymizes its
// records older than the policy's maximum age, sparing held subjects; a
// held tenant is skipped whole. The tenant's holds are read once, as
// the sweep begins. Run it on a schedule (daily, say).
func (e *Engine) Sweep(ctx context.Context, tenantID string, policies []RetentionPolicy) ([]SweepResult, error) {
	holds, err := e.holdsOf(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if held, reason := holds.held(""); held {
		return nil, fmt.Errorf("%w: tenant %s: %s", ErrHeld, tenantID, reason)
	}
	now := e.opts.Now()
	var out []SweepResult
	var errs []error
	for _, p := range policies {
		if p.MaxAge <= 0 || p.Category == "" {
			return out, fmt.Errorf("%w: retention policy %+v: a category and a positive maximum age", ErrInvalid, p)
		}
		for _, name := range e.names {
			src := e.sources[name]
			exp, ok := src.(Expirer)
			if !ok || !slices.Contains(src.Info().Categories, p.Category) {
				continue
			}
			n, err := exp.Expire(ctx, tenantID, p.Category, now.Add(-p.MaxAge), func(subjectKey string) bool {
				held, _ := holds.held(subjectKey)
				return held
			})
			r := SweepResult{Source: name, Category: p.Category, Expired: n}
			if err != nil {
				r.Error = err.Error()
				errs = append(errs, fmt.Errorf("source %s: %w", name, err))
			}
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}
