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
// ciphertexts, wherever copies live (replicas, exports, backups), then
// fail with ErrKeyDestroyed. Tombstones are written before the keys are
// deleted, so a failure half-way still leaves the keys unusable.
func (k *Keyring) ShredSubject(ctx context.Context, tenant, subject string) (Evidence, error) {
	s := Scope{Tenant: tenant, Subject: subject}
	if err := s.validate(); err != nil {
		return Evidence{}, err
	}
	if subject == "" {
		return Evidence{}, fmt.Errorf("%w: subject is required; use ShredTenant for a whole tenant", ErrInvalid)
	}
	recs, err := k.store.List(ctx, tenant, Filter{Kind: KindDEK, Subject: subject, SubjectSet: true})
	if err != nil {
		return Evidence{}, fmt.Errorf("shred subject: %w", err)
	}
	return k.shred(ctx, s, recs)
}

// ShredTenant destroys every key of the tenant, its KEK included: all of
// its data becomes unreadable for good.
func (k *Keyring) ShredTenant(ctx context.Context, tenant string) (Evidence, error) {
	s := Scope{Tenant: tenant}
	if err := s.validate(); err != nil {
		return Evidence{}, err
	}
	recs, err := k.store.List(ctx, tenant, Filter{})
	if err != nil {
		return Evidence{}, fmt.Errorf("shred tenant: %w", err)
	}
	// The KEK's tombstone buries the tenant even if it has no record yet.
	hasKEK := false
	for _, r := range recs {
		hasKEK = hasKEK || r.ID == "kek"
	}
	if !hasKEK {
		recs = append(recs, &KeyRecord{TenantID: tenant, ID: "kek", Kind: KindKEK})
	}
	return k.shred(ctx, s, recs)
}

func (k *Keyring) shred(ctx context.Context, s Scope, recs []*KeyRecord) (Evidence, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ev := Evidence{TenantID: s.Tenant, Subject: s.Subject, At: k.opts.Now().UTC()}
	graves := make([]Tombstone, 0, len(recs))
	for _, r := range recs {
		ev.KeyIDs = append(ev.KeyIDs, r.ID)
		graves = append(graves, Tombstone{TenantID: s.Tenant, KeyID: r.ID, At: ev.At})
	}
	if len(graves) == 0 {
		return ev, nil
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

// forget drops shredded keys from every cache.
func (k *Keyring) forget(s Scope, ids []string) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
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
