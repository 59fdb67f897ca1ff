package tenancy

import (
	"context"
	"time"
)

// Field names the unique attribute a tenant is looked up by.
type Field int

// Lookup fields.
const (
	ByID     Field = iota + 1 // Tenant.ID
	BySlug                    // Tenant.Slug
	ByDomain                  // one of Tenant.Domains
)

func (f Field) String() string {
	switch f {
	case ByID:
		return "id"
	case BySlug:
		return "slug"
	case ByDomain:
		return "domain"
	}
	return "unknown field"
}

// Store persists tenants. Adapters: memstore (in memory), sqlstore
// (SQLite, PostgreSQL). tenancytest.RunStoreTests checks an adapter.
//
// Stores keep what they are given; validation, defaults and timestamps
// are the Registry's job. Returned tenants are copies the caller owns.
type Store interface {
	// Create inserts t with Version 1 and sets t.Version. It returns
	// ErrConflict when the ID, slug or a domain is taken.
	Create(ctx context.Context, t *Tenant) error
	// Lookup returns the tenant whose field equals value, or ErrNotFound.
	Lookup(ctx context.Context, by Field, value string) (*Tenant, error)
	// Update replaces the stored tenant with ID t.ID if its version
	// equals t.Version, then increments t.Version. A stale version or a
	// slug or domain taken by another tenant gives ErrConflict; an
	// unknown ID gives ErrNotFound.
	Update(ctx context.Context, t *Tenant) error
	// List returns up to opts.Limit tenants with IDs greater than
	// opts.After, in ID order.
	List(ctx context.Context, opts ListOptions) ([]*Tenant, error)
	// Delete removes the tenant, its domains and its API keys, or
	// returns ErrNotFound.
	Delete(ctx context.Context, id string) error
}

// ListOptions pages through tenants by ID (keyset pagination).
type ListOptions struct {
	After  string // return IDs greater than this; "" starts at the first
	Limit  int    // at most this many; 0 or more than 1000 means 1000
	Status Status // only this status; "" means any
}

// MaxListLimit caps ListOptions.Limit.
const MaxListLimit = 1000

// EffectiveLimit returns the limit a store applies.
func (o ListOptions) EffectiveLimit() int {
	if o.Limit <= 0 || o.Limit > MaxListLimit {
		return MaxListLimit
	}
	return o.Limit
}

// APIKey is the stored half of a tenant API key. The secret itself is
// never stored: only its SHA-256 hash.
type APIKey struct {
	ID         string    // public identifier, embedded in the token
	TenantID   string    // owner
	Name       string    // label chosen by the tenant
	Prefix     string    // token prefix, e.g. "sk_live_"
	Hash       []byte    // SHA-256 of the secret part of the token
	Last4      string    // last four characters of the token, for display
	Scopes     []string  // what the key may do; empty means none
	CreatedAt  time.Time // UTC
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

// KeyChange lists the changes UpdateKey makes; zero fields are left
// alone. Each change only moves a timestamp one way, so concurrent
// changes never undo each other.
type KeyChange struct {
	ExpiresAt  time.Time // set if the key has no expiry or a later one
	LastUsedAt time.Time // set if later than the stored value
	RevokedAt  time.Time // set if the key is not already revoked
}

// Apply makes the changes to k that a store makes; stores call it on the
// current key inside their write lock or transaction.
func (ch KeyChange) Apply(k *APIKey) {
	if !ch.ExpiresAt.IsZero() && (k.ExpiresAt.IsZero() || ch.ExpiresAt.Before(k.ExpiresAt)) {
		k.ExpiresAt = ch.ExpiresAt
	}
	if ch.LastUsedAt.After(k.LastUsedAt) {
		k.LastUsedAt = ch.LastUsedAt
	}
	if !ch.RevokedAt.IsZero() && k.RevokedAt.IsZero() {
		k.RevokedAt = ch.RevokedAt
	}
}

// KeyStore persists API keys. Every method but FindKey is scoped to a
// tenant: another tenant's key is reported as ErrNotFound.
type KeyStore interface {
	// CreateKey inserts k; ErrConflict if its ID is taken.
	CreateKey(ctx context.Context, k *APIKey) error
	// GetKey returns the tenant's key with that ID.
	GetKey(ctx context.Context, tenantID, id string) (*APIKey, error)
	// FindKey returns the key with that ID, whatever its tenant. It
	// exists to authenticate a token, which is what names the tenant.
	FindKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys returns the tenant's keys, oldest first.
	ListKeys(ctx context.Context, tenantID string) ([]*APIKey, error)
	// UpdateKey applies ch to the tenant's key with that ID.
	UpdateKey(ctx context.Context, tenantID, id string, ch KeyChange) error
}
