package audit

import (
	"context"
)

// Store keeps the trails of all tenants. gdpr/audit/memstore and
// gdpr/audit/sqlstore implement it; audittest is its conformance suite.
// A Store only appends: it never updates or deletes a record. The Trail
// validates and hashes every record before a Store sees it, and every
// method is scoped to one tenant.
type Store interface {
	// Append stores r as the next record of r.TenantID if the tenant's
	// chain still ends where r says: at record r.Seq-1 with hash
	// r.PrevHash, or, for r.Seq 1, nowhere (r.PrevHash is ZeroHash).
	// Otherwise, in particular when another record took r.Seq first, it
	// stores nothing and returns ErrConflict; two appenders can never
	// both extend the chain from the same record. r.Seq 0 is ErrInvalid.
	Append(ctx context.Context, r Record) error
	// List returns up to limit (> 0) of the tenant's records with Seq
	// greater than afterSeq, in Seq order.
	List(ctx context.Context, tenantID string, afterSeq uint64, limit int) ([]Record, error)
	// Last returns the tenant's record with the highest Seq, or
	// ErrNotFound when the tenant has none.
	Last(ctx context.Context, tenantID string) (Record, error)
}
