package crypto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// KEKInfo describes a tenant's KEK versions.
type KEKInfo struct {
	Versions             []KEKVersionInfo
	Primary              int // the version that wraps new keys
	MinDecryptionVersion int // older versions are retired
}

// KEKVersionInfo is one version of a tenant's KEK.
type KEKVersionInfo struct {
	Version int
	Created time.Time
	Enabled bool
}

// KEK returns the version history of the tenant's KEK, creating the KEK
// if the tenant has none yet.
func (k *Keyring) KEK(ctx context.Context, tenant string) (KEKInfo, error) {
	if err := (Scope{Tenant: tenant}).validate(); err != nil {
		return KEKInfo{}, err
	}
	e, err := k.tenantKEK(ctx, tenant, true)
	if err != nil {
		return KEKInfo{}, err
	}
	info := KEKInfo{Primary: e.meta.versionOf(e.primary), MinDecryptionVersion: e.meta.MinDecrypt}
	for _, v := range e.meta.Versions {
		info.Versions = append(info.Versions, KEKVersionInfo{Version: v.Version, Created: v.Created, Enabled: v.Version >= e.meta.MinDecrypt})
	}
	return info, nil
}

// changeKEK applies change to a fresh copy of the tenant's KEK and saves
// it re-wrapped under the root key.
func (k *Keyring) changeKEK(ctx context.Context, tenant string, change func(m *keyset.Manager, meta *kekMeta) error) (*kek, error) {
	if err := (Scope{Tenant: tenant}).validate(); err != nil {
		return nil, err
	}
	mu := k.tenantLock(tenant)
	mu.Lock()
	defer mu.Unlock()
	gen := k.generation(tenant)
	cur, err := k.loadKEK(ctx, tenant, true)
	if err != nil {
		return nil, err
	}
	m := keyset.NewManagerFromHandle(cur.handle)
	meta := cur.meta
	meta.Versions = slices.Clone(meta.Versions)
	if err := change(m, &meta); err != nil {
		return nil, err
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("kek of tenant %s: %w", tenant, err)
	}
	wrapped, err := k.wrapKEK(ctx, tenant, h)
	if err != nil {
		return nil, err
	}
	rec := *cur.record
	rec.Material = wrapped
	rec.Meta, _ = json.Marshal(meta)
	if err := k.store.Update(ctx, &rec); err != nil {
		return nil, fmt.Errorf("save kek of tenant %s: %w", tenant, err)
	}
	e, err := k.newKEKEntry(h, meta, &rec)
	if err != nil {
		return nil, err
	}
	e.checked.Store(k.opts.Now().UnixNano())
	putCached(k, k.keks, tenant, e, tenant, gen)
	k.forgetEncryptionKeys(func(s Scope) bool { return s.Tenant == tenant })
	return e, nil
}

// AddKEKVersion adds a new KEK version to the tenant, not yet primary,
// and returns its number. Promote it with PromoteKEKVersion once every
// process has seen it (after DataKeyMaxAge).
func (k *Keyring) AddKEKVersion(ctx context.Context, tenant string) (int, error) {
	var added int
	_, err := k.changeKEK(ctx, tenant, func(m *keyset.Manager, meta *kekMeta) error {
		id, err := m.Add(aead.AES256GCMKeyTemplate())
		if err != nil {
			return fmt.Errorf("add kek version: %w", err)
		}
		added = meta.Versions[len(meta.Versions)-1].Version + 1
		meta.Versions = append(meta.Versions, kekVersion{Version: added, KeyID: id, Created: k.opts.Now().UTC()})
		return nil
	})
	return added, err
}

// PromoteKEKVersion makes version the one that wraps new keys.
func (k *Keyring) PromoteKEKVersion(ctx context.Context, tenant string, version int) error {
	_, err := k.changeKEK(ctx, tenant, func(m *keyset.Manager, meta *kekMeta) error {
		for _, v := range meta.Versions {
			if v.Version == version {
				if version < meta.MinDecrypt {
					return fmt.Errorf("%w: kek version %d is retired", ErrInvalid, version)
				}
				return m.SetPrimary(v.KeyID)
			}
		}
		return fmt.Errorf("%w: tenant %s has no kek version %d", ErrInvalid, tenant, version)
	})
	return err
}

// RotateKEK adds a KEK version and promotes it at once, returning its
// number. New data keys are wrapped by it; existing ones keep working
// until Rewrap moves them.
func (k *Keyring) RotateKEK(ctx context.Context, tenant string) (int, error) {
	v, err := k.AddKEKVersion(ctx, tenant)
	if err != nil {
		return 0, err
	}
	return v, k.PromoteKEKVersion(ctx, tenant, v)
}

// Rewrap re-wraps every key of the tenant that an older KEK version
// wrapped under the primary version, without touching any data. It
// returns how many keys it re-wrapped. It also repairs keys wrapped by a
// retired version (a process that had not yet seen a rotation can write
// one): after Rewrap they open again.
func (k *Keyring) Rewrap(ctx context.Context, tenant string) (int, error) {
	if err := (Scope{Tenant: tenant}).validate(); err != nil {
		return 0, err
	}
	mu := k.tenantLock(tenant)
	mu.Lock()
	defer mu.Unlock()
	e, err := k.loadKEK(ctx, tenant, false)
	if err != nil {
		return 0, err
	}
	all, err := e.allVersions()
	if err != nil {
		return 0, err
	}
	recs, err := k.store.List(ctx, tenant, Filter{})
	if err != nil {
		return 0, fmt.Errorf("rewrap tenant %s: %w", tenant, err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Kind == KindKEK || rec.WrappedBy == e.primary {
			continue
		}
		material, err := all.Decrypt(rec.Material, recordAD(rec))
		if err != nil {
			return n, fmt.Errorf("rewrap %s key %s: %w", rec.Kind, rec.ID, ErrDecrypt)
		}
		if err := e.wrap(rec, material); err != nil {
			return n, err
		}
		if err := k.store.Update(ctx, rec); err != nil {
			return n, fmt.Errorf("rewrap %s key %s: %w", rec.Kind, rec.ID, err)
		}
		n++
	}
	return n, nil
}

// SetMinDecryptionVersion retires every KEK version below version: they
// are disabled and keys they wrapped fail with ErrKeyRetired. It refuses
// while any key is still wrapped by a version it would retire: call
// Rewrap first, so retiring never loses data.
func (k *Keyring) SetMinDecryptionVersion(ctx context.Context, tenant string, version int) error {
	_, err := k.changeKEK(ctx, tenant, func(m *keyset.Manager, meta *kekMeta) error {
		recs, err := k.store.List(ctx, tenant, Filter{})
		if err != nil {
			return fmt.Errorf("retire kek versions of tenant %s: %w", tenant, err)
		}
		h, err := m.Handle()
		if err != nil {
			return err
		}
		p, err := h.Primary()
		if err != nil {
			return err
		}
		if primary := meta.versionOf(p.KeyID()); version < 1 || version > primary {
			return fmt.Errorf("%w: minimum decryption version must be 1 to %d (the primary)", ErrInvalid, primary)
		}
		for _, rec := range recs {
			if v := meta.versionOf(rec.WrappedBy); rec.Kind != KindKEK && v != 0 && v < version {
				return fmt.Errorf("%w: %s key %s is still wrapped by kek version %d; call Rewrap first", ErrInvalid, rec.Kind, rec.ID, v)
			}
		}
		for _, v := range meta.Versions {
			if v.Version < version && v.Version >= meta.MinDecrypt {
				if err := m.Disable(v.KeyID); err != nil {
					return fmt.Errorf("retire kek version %d: %w", v.Version, err)
				}
			}
		}
		meta.MinDecrypt = max(meta.MinDecrypt, version)
		return nil
	})
	return err
}

// rotationDue reports whether RotationPeriod has passed since the
// primary KEK version was made.
func (k *Keyring) rotationDue(meta *kekMeta, primary uint32) bool {
	if k.opts.RotationPeriod <= 0 {
		return false
	}
	v := meta.versionOf(primary)
	return v > 0 && k.opts.Now().Sub(meta.Versions[v-1].Created) >= k.opts.RotationPeriod
}

var errNotDue = errors.New("rotation not due")

// rotateIfDue rotates the tenant's KEK if rotation is due by the KEK as
// stored now, so concurrent callers and processes rotate once a period.
func (k *Keyring) rotateIfDue(ctx context.Context, tenant string) error {
	_, err := k.changeKEK(ctx, tenant, func(m *keyset.Manager, meta *kekMeta) error {
		h, err := m.Handle()
		if err != nil {
			return err
		}
		p, err := h.Primary()
		if err != nil {
			return err
		}
		if !k.rotationDue(meta, p.KeyID()) {
			return errNotDue
		}
		id, err := m.Add(aead.AES256GCMKeyTemplate())
		if err != nil {
			return fmt.Errorf("add kek version: %w", err)
		}
		v := meta.Versions[len(meta.Versions)-1].Version + 1
		meta.Versions = append(meta.Versions, kekVersion{Version: v, KeyID: id, Created: k.opts.Now().UTC()})
		return m.SetPrimary(id)
	})
	if errors.Is(err, errNotDue) || errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
