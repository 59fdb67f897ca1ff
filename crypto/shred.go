package crypto

import (
	"context"
	"fmt"
	"time"
)

// Evidence records what a shred destroyed, for the audit log.
type Evidence struct {
	TenantID string
	Subject  string    // "" when the whole tenant was shredded
	KeyIDs   []string  // every key record destroyed
	At       time.Time // when the tombstones were written
}

// ShredSubject destroys every data key of one data subject: all their
// ciphertexts made with Encrypt, wherever copies live (replicas, exports,
// backups), then fail with ErrKeyDestroyed. Tombstones are written before
// the keys are deleted, so a failure half-way still leaves the keys
// unusable.
//
// This process stops using the keys at once; other processes within
// Options.TombstoneCheckInterval. Search indexes, deterministic
// ciphertexts and streams use tenant-wide keys: a subject's values there
// must be deleted as rows, or encrypted with Encrypt under the subject's
// scope.
func (k *Keyring) ShredSubject(ctx context.Context, tenant, subject string) (Evidence, error) {
	s := Scope{Tenant: tenant, Subject: subject}
	if err := s.validate(); err != nil {
		return Evidence{}, err
	}
	if subject == "" {
		return Evidence{}, fmt.Errorf("%w: subject is required; use ShredTenant for a whole tenant", ErrInvalid)
	}
	return k.shred(ctx, s, Filter{Kind: KindDEK, Subject: subject, SubjectSet: true})
}

// ShredTenant destroys every key of the tenant, its KEK included: all of
// its data becomes unreadable for good, and no new keys are made for it.
func (k *Keyring) ShredTenant(ctx context.Context, tenant string) (Evidence, error) {
	s := Scope{Tenant: tenant}
	if err := s.validate(); err != nil {
		return Evidence{}, err
	}
	return k.shred(ctx, s, Filter{})
}

// shred buries and deletes the records that f selects. It holds the
// tenant's lock, so this process makes no key for the tenant between
// listing and burying.
func (k *Keyring) shred(ctx context.Context, s Scope, f Filter) (Evidence, error) {
	mu := k.tenantLock(s.Tenant)
	mu.Lock()
	defer mu.Unlock()
	recs, err := k.store.List(ctx, s.Tenant, f)
	if err != nil {
		return Evidence{}, fmt.Errorf("shred: %w", err)
	}
	ev := Evidence{TenantID: s.Tenant, Subject: s.Subject, At: k.opts.Now().UTC()}
	for _, r := range recs {
		ev.KeyIDs = append(ev.KeyIDs, r.ID)
	}
	if s.Subject == "" && !containsKEK(ev.KeyIDs) {
		// The KEK's tombstone buries the tenant even before it has keys.
		ev.KeyIDs = append(ev.KeyIDs, "kek")
	}
	if len(ev.KeyIDs) == 0 {
		return ev, nil
	}
	graves := make([]Tombstone, len(ev.KeyIDs))
	for i, id := range ev.KeyIDs {
		graves[i] = Tombstone{TenantID: s.Tenant, KeyID: id, At: ev.At}
	}
	if err := k.graves.Bury(ctx, graves); err != nil {
		return Evidence{}, fmt.Errorf("write tombstones: %w", err)
	}
	k.forget(s, ev.KeyIDs)
	if err := k.store.Delete(ctx, s.Tenant, ev.KeyIDs); err != nil {
		return ev, fmt.Errorf("keys are tombstoned but not yet deleted: %w", err)
	}
	return ev, nil
}

func containsKEK(ids []string) bool {
	for _, id := range ids {
		if id == "kek" {
			return true
		}
	}
	return false
}

// forget drops shredded keys from every cache and bumps the tenant's
// generation, so loads already under way do not cache them again.
func (k *Keyring) forget(s Scope, ids []string) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	k.gens[s.Tenant]++
	wholeTenant := s.Subject == ""
	for sc := range k.enc {
		if sc.Tenant == s.Tenant && (wholeTenant || sc.Subject == s.Subject) {
			delete(k.enc, sc)
		}
	}
	for _, id := range ids {
		if d, err := parseDEKID(id); err == nil {
			delete(k.dec, decKey{s.Tenant, d})
		}
	}
	if wholeTenant {
		for dk := range k.dec {
			if dk.tenant == s.Tenant {
				delete(k.dec, dk)
			}
		}
		delete(k.keks, s.Tenant)
		for _, kind := range []Kind{KindDeterministic, KindIndex, KindStreaming} {
			delete(k.keysets, keysetKey{s.Tenant, kind})
		}
	}
}
