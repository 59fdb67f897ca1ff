package gdpr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Restricter is a Source that can restrict processing of a subject's
// data (GDPR Art. 18): the data stays, marked, and the source's users
// must not process it until the mark is lifted. Process calls it for
// restriction requests.
type Restricter interface {
	Restrict(ctx context.Context, tenantID string, s Subject, restricted bool) error
}

// Expirer is a Source that can delete or anonymize its records of a
// data category older than a time, for retention sweeps.
type Expirer interface {
	Expire(ctx context.Context, tenantID, category string, before time.Time, held func(subjectKey string) bool) (int, error)
}

// RetentionPolicy is the longest a data category may be kept.
type RetentionPolicy struct {
	Category string
	MaxAge   time.Duration
}

// Holds are legal holds: a held tenant or subject's data must not be
// deleted by retention sweeps or erasures, whatever the policy.
type Holds struct {
	mu      sync.Mutex
	tenants map[string]string    // tenant -> reason
	subject map[[2]string]string // (tenant, subject key) -> reason
}

// NewHolds returns an empty set of holds.
func NewHolds() *Holds {
	return &Holds{tenants: map[string]string{}, subject: map[[2]string]string{}}
}

// HoldTenant holds all of a tenant's data; HoldSubject one subject's.
func (h *Holds) HoldTenant(tenantID, reason string) { h.set(func() { h.tenants[tenantID] = reason }) }

// HoldSubject holds one subject's data (by SubjectKey identity).
func (h *Holds) HoldSubject(tenantID, subjectKey, reason string) {
	h.set(func() { h.subject[[2]string{tenantID, subjectKey}] = reason })
}

// Release lifts a tenant's hold (subjectKey "") or a subject's.
func (h *Holds) Release(tenantID, subjectKey string) {
	h.set(func() {
		if subjectKey == "" {
			delete(h.tenants, tenantID)
		} else {
			delete(h.subject, [2]string{tenantID, subjectKey})
		}
	})
}

func (h *Holds) set(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f()
}

// Held reports whether the subject's data (or all the tenant's, for
// subjectKey "") is held, and why.
func (h *Holds) Held(tenantID, subjectKey string) (bool, string) {
	if h == nil {
		return false, ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if reason, ok := h.tenants[tenantID]; ok {
		return true, reason
	}
	reason, ok := h.subject[[2]string{tenantID, subjectKey}]
	return ok, reason
}

// heldForErasure reports whether erasing the subject would touch held
// data. Holds name subjects by their SubjectKey identity: a subject
// named without one cannot be matched, so while any subject of the
// tenant is held, such an erasure is refused rather than risked.
func (h *Holds) heldForErasure(tenantID string, s Subject) (bool, string) {
	if h == nil {
		return false, ""
	}
	if key := s.Value(SubjectKey); key != "" {
		return h.Held(tenantID, key)
	}
	if held, reason := h.Held(tenantID, ""); held {
		return true, reason
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.subject {
		if k[0] == tenantID {
			return true, "subjects of this tenant are under legal hold, and the request names no " + SubjectKey + " to tell them apart"
		}
	}
	return false, ""
}

// ErrHeld: a legal hold blocks the deletion.
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
// held tenant is skipped whole. Run it on a schedule (daily, say).
func (e *Engine) Sweep(ctx context.Context, tenantID string, policies []RetentionPolicy) ([]SweepResult, error) {
	if held, reason := e.opts.Holds.Held(tenantID, ""); held {
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
				held, _ := e.opts.Holds.Held(tenantID, subjectKey)
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
