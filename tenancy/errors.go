package tenancy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them once with context; test with errors.Is.
var (
	// ErrNotFound: no tenant, API key or template matches, or the record
	// belongs to another tenant.
	ErrNotFound = errors.New("tenancy: not found")
	// ErrInvalid: input failed validation. The wrapped *FieldError says
	// which field and which rule.
	ErrInvalid = errors.New("tenancy: invalid")
	// ErrConflict: a unique value (ID, slug, custom domain, key ID) is
	// taken, or an update was made against a stale version.
	ErrConflict = errors.New("tenancy: conflict")
	// ErrNoTenant: the context carries no tenant.
	ErrNoTenant = errors.New("tenancy: no tenant in context")
	// ErrMalformed: a request names a tenant in a form that cannot be
	// parsed (bad host, header, path or API key syntax).
	ErrMalformed = errors.New("tenancy: malformed tenant reference")
	// ErrSuspended: the tenant exists but is suspended.
	ErrSuspended = errors.New("tenancy: tenant suspended")
	// ErrUnauthenticated: a credential is unknown, revoked, expired,
	// malformed or does not match, or a request needs one and presents
	// none. The reason is deliberately not told apart.
	ErrUnauthenticated = errors.New("tenancy: invalid or missing credential")
	// ErrForbidden: the caller is authenticated but may not do this: its
	// credential belongs to another tenant than the one the request
	// names, or lacks a scope.
	ErrForbidden = errors.New("tenancy: forbidden")
)

// FieldError names the field that failed validation and the rule it broke.
// It wraps ErrInvalid.
type FieldError struct {
	Field string // dotted path, e.g. "branding.primary_color"
	Rule  string // what the value must be
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("tenancy: invalid %s: %s", e.Field, e.Rule)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, rule string) error { return &FieldError{Field: field, Rule: rule} }
