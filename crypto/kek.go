package crypto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// kekMeta is the version history kept in the KEK record's Meta.
type kekMeta struct {
	Versions   []kekVersion `json:"versions"`
	MinDecrypt int          `json:"min_decryption_version"`
}

type kekVersion struct {
	Version int       `json:"version"`
	KeyID   uint32    `json:"key_id"`
	Created time.Time `json:"created"`
}

func (m *kekMeta) versionOf(keyID uint32) int {
	for _, v := range m.Versions {
		if v.KeyID == keyID {
			return v.Version
		}
	}
	return 0
}

// kek is a tenant's unwrapped key-encryption keyset.
type kek struct {
	handle  *keyset.Handle
	aead    tink.AEAD
	primary uint32
	meta    kekMeta
	record  *KeyRecord
	loaded  time.Time
	liveness
}

func kekAD(tenant string) []byte {
	return boundAD("saaskit.crypto.kek", Scope{Tenant: tenant}, nil, nil)
}

// newKEK returns a fresh tenant keyset with one AES-256-GCM key.
func newKEK(now time.Time) (*keyset.Handle, kekMeta, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, kekMeta{}, fmt.Errorf("new kek: %w", err)
	}
	p, err := h.Primary()
	if err != nil {
		return nil, kekMeta{}, fmt.Errorf("new kek: %w", err)
	}
	return h, kekMeta{Versions: []kekVersion{{Version: 1, KeyID: p.KeyID(), Created: now}}, MinDecrypt: 1}, nil
}

// wrapKEK encrypts a tenant keyset under the root key: one KMS call.
func (k *Keyring) wrapKEK(ctx context.Context, tenant string, h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	rc := &rootCall{k: k, ctx: ctx}
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), rc, kekAD(tenant)); err != nil {
		return nil, fmt.Errorf("wrap kek of tenant %s: %w", tenant, rc.explain(err))
	}
	return buf.Bytes(), nil
}

// rootCall is the root key as Tink sees it during one keyset read or
// write: it counts calls and remembers a KMS failure, which Tink's own
// error would hide.
type rootCall struct {
	k      *Keyring
	ctx    context.Context
	failed error
}

func (c *rootCall) Encrypt(pt, ad []byte) ([]byte, error) {
	out, err := c.k.root.Encrypt(pt, ad)
	c.k.metrics.kmsCall(c.ctx, "encrypt", err)
	c.failed = err
	return out, err
}

func (c *rootCall) Decrypt(ct, ad []byte) ([]byte, error) {
	out, err := c.k.root.Decrypt(ct, ad)
	c.k.metrics.kmsCall(c.ctx, "decrypt", err)
	c.failed = err
	return out, err
}

// explain marks err with ErrKMS when the root key call failed.
func (c *rootCall) explain(err error) error {
	if c.failed != nil {
		return fmt.Errorf("%w: %w", ErrKMS, c.failed)
	}
	return err
}

func (k *Keyring) unwrapKEK(ctx context.Context, rec *KeyRecord) (*kek, error) {
	rc := &rootCall{k: k, ctx: ctx}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(rec.Material)), rc, kekAD(rec.TenantID))
	if err != nil {
		return nil, fmt.Errorf("unwrap kek of tenant %s: %w", rec.TenantID, rc.explain(err))
	}
	var meta kekMeta
	if err := json.Unmarshal(rec.Meta, &meta); err != nil {
		return nil, fmt.Errorf("kek metadata of tenant %s: %w", rec.TenantID, err)
	}
	return k.newKEKEntry(h, meta, rec)
}

func (k *Keyring) newKEKEntry(h *keyset.Handle, meta kekMeta, rec *KeyRecord) (*kek, error) {
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("kek primitive: %w", err)
	}
	p, err := h.Primary()
	if err != nil {
		return nil, fmt.Errorf("kek primary: %w", err)
	}
	return &kek{handle: h, aead: a, primary: p.KeyID(), meta: meta, record: rec, loaded: k.opts.Now()}, nil
}

// tenantKEK returns the tenant's KEK from the cache or the store, making
// one when create is set and the tenant has none.
func (k *Keyring) tenantKEK(ctx context.Context, tenant string, create bool) (*kek, error) {
	now := k.opts.Now()
	k.cacheMu.RLock()
	e := k.keks[tenant]
	k.cacheMu.RUnlock()
	if e != nil && now.Sub(e.loaded) < k.opts.DataKeyMaxAge {
		k.metrics.cache(ctx, "kek", true)
		if err := k.stillAlive(ctx, tenant, "kek", &e.liveness, now); err != nil {
			return nil, err
		}
		return e, nil
	}
	k.metrics.cache(ctx, "kek", false)
	return k.loadKEK(ctx, tenant, create)
}

// loadKEK reads the tenant's KEK from the store, bypassing the cache.
func (k *Keyring) loadKEK(ctx context.Context, tenant string, create bool) (*kek, error) {
	gen := k.generation(tenant)
	if err := k.checkAlive(ctx, tenant, "kek"); err != nil {
		return nil, err
	}
	rec, err := k.store.Get(ctx, tenant, "kek")
	if errors.Is(err, ErrNotFound) && create {
		return k.createKEK(ctx, tenant, gen)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: tenant %s has no keys", ErrDecrypt, tenant)
	}
	if err != nil {
		return nil, fmt.Errorf("kek of tenant %s: %w", tenant, err)
	}
	e, err := k.unwrapKEK(ctx, rec)
	if err != nil {
		return nil, err
	}
	e.checked.Store(k.opts.Now().UnixNano())
	putCached(k, k.keks, tenant, e, tenant, gen)
	return e, nil
}

// freshKEK returns the tenant's KEK as the store has it now, reloading
// the cached one if another process changed it. Keys are wrapped only
// with a fresh KEK, so none is wrapped by a version already retired.
func (k *Keyring) freshKEK(ctx context.Context, tenant string) (*kek, error) {
	e, err := k.tenantKEK(ctx, tenant, true)
	if err != nil {
		return nil, err
	}
	rec, err := k.store.Get(ctx, tenant, "kek")
	if err != nil {
		return nil, fmt.Errorf("kek of tenant %s: %w", tenant, err)
	}
	if rec.Version == e.record.Version {
		return e, nil
	}
	return k.loadKEK(ctx, tenant, false)
}

func (k *Keyring) createKEK(ctx context.Context, tenant string, gen uint64) (*kek, error) {
	now := k.opts.Now().UTC()
	h, meta, err := newKEK(now)
	if err != nil {
		return nil, err
	}
	wrapped, err := k.wrapKEK(ctx, tenant, h)
	if err != nil {
		return nil, err
	}
	metaJSON, _ := json.Marshal(meta) // plain struct: cannot fail
	rec := &KeyRecord{TenantID: tenant, ID: "kek", Kind: KindKEK, Material: wrapped, Meta: metaJSON, CreatedAt: now}
	if err := k.store.Create(ctx, rec); errors.Is(err, ErrConflict) {
		return k.loadKEK(ctx, tenant, false) // another process made it first
	} else if err != nil {
		return nil, fmt.Errorf("store kek of tenant %s: %w", tenant, err)
	}
	e, err := k.newKEKEntry(h, meta, rec)
	if err != nil {
		return nil, err
	}
	e.checked.Store(now.UnixNano())
	putCached(k, k.keks, tenant, e, tenant, gen)
	return e, nil
}

// checkAlive fails with ErrKeyDestroyed when the key or its tenant was
// shredded.
func (k *Keyring) checkAlive(ctx context.Context, tenant, keyID string) error {
	buried, err := k.graves.Buried(ctx, tenant, keyID)
	if err != nil {
		return fmt.Errorf("check tombstones: %w", err)
	}
	if buried {
		return fmt.Errorf("key %s of tenant %s: %w", keyID, tenant, ErrKeyDestroyed)
	}
	return nil
}

// wrap encrypts key material under the tenant's KEK primary, binding it
// to the record it belongs in.
func (e *kek) wrap(rec *KeyRecord, material []byte) error {
	out, err := e.aead.Encrypt(material, recordAD(rec))
	if err != nil {
		return fmt.Errorf("wrap %s key: %w", rec.Kind, err)
	}
	rec.Material, rec.WrappedBy = out, e.primary
	return nil
}

// unwrap decrypts a record's material with the tenant's KEK.
func (e *kek) unwrap(rec *KeyRecord) ([]byte, error) {
	if v := e.meta.versionOf(rec.WrappedBy); v != 0 && v < e.meta.MinDecrypt {
		return nil, fmt.Errorf("%s key %s wrapped by kek version %d, below the minimum %d: %w",
			rec.Kind, rec.ID, v, e.meta.MinDecrypt, ErrKeyRetired)
	}
	out, err := e.aead.Decrypt(rec.Material, recordAD(rec))
	if err != nil {
		return nil, fmt.Errorf("unwrap %s key %s: %w", rec.Kind, rec.ID, ErrDecrypt)
	}
	return out, nil
}

func recordAD(rec *KeyRecord) []byte {
	return boundAD("saaskit.crypto."+string(rec.Kind), Scope{Tenant: rec.TenantID, Subject: rec.Subject}, []byte(rec.ID), nil)
}

// unwrapRecord unwraps rec with the tenant's KEK, reloading the KEK once
// if rec was wrapped by a KEK version this process has not seen yet.
func (k *Keyring) unwrapRecord(ctx context.Context, rec *KeyRecord) ([]byte, error) {
	e, err := k.tenantKEK(ctx, rec.TenantID, false)
	if err != nil {
		return nil, err
	}
	if e.meta.versionOf(rec.WrappedBy) == 0 {
		if e, err = k.loadKEK(ctx, rec.TenantID, false); err != nil {
			return nil, err
		}
	}
	return e.unwrap(rec)
}

// allVersions returns an AEAD over every version of the KEK, retired ones
// included, for Rewrap to repair keys stranded under a retired version.
func (e *kek) allVersions() (tink.AEAD, error) {
	m := keyset.NewManagerFromHandle(e.handle)
	for _, v := range e.meta.Versions {
		_ = m.Enable(v.KeyID) // enabling an enabled key is a no-op error
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("kek versions: %w", err)
	}
	return aead.New(h)
}
