package crypto

import (
	"context"
	"time"
)

// Kind is what a key record holds.
type Kind string

// Key record kinds.
const (
	// KindKEK is a tenant's key-encryption keyset (AES-256-GCM), wrapped
	// by the root key in the KMS. Its ID is always "kek".
	KindKEK Kind = "kek"
	// KindDEK is a data-encryption key (AES-256-GCM) of a tenant or of one
	// data subject, wrapped by the tenant's KEK.
	KindDEK Kind = "dek"
	// KindDeterministic is the tenant's AES-SIV keyset for equality-
	// searchable columns. ID "daead".
	KindDeterministic Kind = "daead"
	// KindIndex is the tenant's HMAC-SHA256 PRF keyset for blind
	// indexes. ID "prf".
	KindIndex Kind = "prf"
	// KindStreaming is the tenant's AES-256-GCM-HKDF streaming keyset.
	// ID "stream".
	KindStreaming Kind = "stream"
)

// KeyRecord is one stored key, always wrapped: a KEK under the root key,
// everything else under its tenant's KEK.
type KeyRecord struct {
	TenantID string
	ID       string // "kek", "daead", "prf", "stream", or a DEK's 32 hex digits
	Kind     Kind
	// Subject is the data subject a DEK belongs to; "" for tenant-wide keys.
	Subject string
	// Material is the wrapped key or keyset.
	Material []byte
	// WrappedBy is the KEK key (Tink key ID) that wrapped Material; 0 for
	// a KEK, which the root key wraps.
	WrappedBy uint32
	// Meta is opaque to stores: the keyring keeps version history there.
	Meta []byte
	// CreatedAt is set by the keyring (UTC).
	CreatedAt time.Time
	// Version increases on every update; stores use it for optimistic
	// concurrency, like tenancy.Store.
	Version int64
}

// Filter selects records in KeyStore.List.
type Filter struct {
	Kind Kind // "" for any kind
	// Subject selects a DEK's subject when SubjectSet is true.
	Subject    string
	SubjectSet bool
}

// KeyStore persists wrapped keys. Every method is scoped to a tenant.
// Adapters: memstore, sqlstore; cryptotest.RunStoreTests checks them.
type KeyStore interface {
	// Create inserts r with Version 1 and sets r.Version; ErrConflict if
	// the tenant already has a record with r.ID.
	Create(ctx context.Context, r *KeyRecord) error
	// Get returns the tenant's record with that ID, or ErrNotFound.
	Get(ctx context.Context, tenantID, id string) (*KeyRecord, error)
	// Update replaces Material, WrappedBy and Meta of the record with
	// r.TenantID and r.ID if its version equals r.Version, then increments
	// r.Version; ErrConflict when stale, ErrNotFound when absent.
	Update(ctx context.Context, r *KeyRecord) error
	// List returns the tenant's records that match f, oldest first.
	List(ctx context.Context, tenantID string, f Filter) ([]*KeyRecord, error)
	// Delete removes the tenant's records with those IDs; absent IDs are
	// ignored.
	Delete(ctx context.Context, tenantID string, ids []string) error
}

// Tombstone records that a key was shredded.
type Tombstone struct {
	TenantID string
	KeyID    string // a record ID; "kek" buries the whole tenant
	At       time.Time
}

// Tombstones remembers shredded keys, so that a key store restored from
// an old backup cannot bring them back: the keyring refuses any key with
// a tombstone. Keep tombstones where key-store restores do not reach
// (another database, or a table your restore procedure leaves alone).
type Tombstones interface {
	// Bury records the tombstones; burying twice is not an error.
	Bury(ctx context.Context, ts []Tombstone) error
	// Buried reports whether the tenant's key, or the tenant's KEK, has a
	// tombstone.
	Buried(ctx context.Context, tenantID, keyID string) (bool, error)
}
