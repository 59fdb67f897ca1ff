package crypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"go.opentelemetry.io/otel/metric"

	"github.com/saaskit/saaskit/tenancy"
)

// Scope names whose data a key protects: a tenant, and optionally one
// data subject within it whose data must be erasable on its own.
type Scope struct {
	Tenant  string
	Subject string // "" for tenant-wide data
}

// ScopeFromContext returns the tenant-wide scope of the tenant in ctx
// (see package tenancy).
func ScopeFromContext(ctx context.Context) (Scope, error) {
	t, err := tenancy.FromContext(ctx)
	if err != nil {
		return Scope{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Scope{Tenant: t.ID}, nil
}

func (s Scope) validate() error {
	if s.Tenant == "" || len(s.Tenant) > 64 || !printableASCII(s.Tenant) {
		return fmt.Errorf("%w: scope tenant must be 1 to 64 printable ASCII characters", ErrInvalid)
	}
	if len(s.Subject) > 256 || !printableASCII(s.Subject) {
		return fmt.Errorf("%w: scope subject must be at most 256 printable ASCII characters", ErrInvalid)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Options configure a Keyring. The zero value is a sensible default.
type Options struct {
	// DataKeyMaxAge bounds how long one data key encrypts before a fresh
	// one is made, and how long unwrapped keys stay in memory. Default 1h.
	DataKeyMaxAge time.Duration
	// DataKeyMaxMessages bounds the messages one data key encrypts.
	// Default 2^32, the AES-GCM random-nonce bound (NIST SP 800-38D).
	DataKeyMaxMessages int64
	// DataKeyMaxBytes bounds the plaintext bytes one data key encrypts.
	// Default 64 GiB.
	DataKeyMaxBytes int64
	// CacheSize bounds each in-memory key cache. Default 10000.
	CacheSize int
	// RotationPeriod rotates a tenant's KEK when its primary version is
	// older, checked whenever a data key is made. Default 0: no automatic
	// rotation.
	RotationPeriod time.Duration
	// TombstoneCheckInterval is how often a cached key re-reads its
	// tombstones, which bounds how long a shred made by another process
	// takes to reach this one. Default 1 minute.
	TombstoneCheckInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MeterProvider records saaskit.crypto.* metrics. Default the global
	// provider.
	MeterProvider metric.MeterProvider
}

func (o Options) withDefaults() Options {
	if o.DataKeyMaxAge <= 0 {
		o.DataKeyMaxAge = time.Hour
	}
	if o.DataKeyMaxMessages <= 0 {
		o.DataKeyMaxMessages = 1 << 32
	}
	if o.DataKeyMaxBytes <= 0 {
		o.DataKeyMaxBytes = 64 << 30
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.TombstoneCheckInterval <= 0 {
		o.TombstoneCheckInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Keyring is per-tenant envelope encryption: a root key in a KMS wraps a
// key-encryption keyset (KEK) per tenant, which wraps data keys per
// tenant and per data subject, and the tenant's search and streaming
// keysets. It caches unwrapped keys within limits, so the KMS is called
// about once per tenant per DataKeyMaxAge, not once per message.
// It is safe for concurrent use.
type Keyring struct {
	root    tink.AEAD
	store   KeyStore
	graves  Tombstones
	opts    Options
	metrics *metrics

	locks [64]sync.Mutex // see tenantLock

	cacheMu sync.RWMutex
	gens    map[string]uint64   // shred generation by tenant; see putCached
	keks    map[string]*kek     // by tenant
	enc     map[Scope]*dataKey  // the data key each scope encrypts with
	dec     map[decKey]*dataKey // unwrapped data keys by tenant and ID
	keysets map[keysetKey]*tenantKeyset
}

type decKey struct {
	tenant string
	id     dekID
}

type keysetKey struct {
	tenant string
	kind   Kind
}

// NewKeyring returns a Keyring whose root key-encryption key is root,
// typically a KMS client's AEAD (registry.KMSClient.GetAEAD). Tombstones
// may be the same store as keys, but see Tombstones for why it should not.
func NewKeyring(root tink.AEAD, store KeyStore, graves Tombstones, opts Options) (*Keyring, error) {
	if root == nil || store == nil || graves == nil {
		return nil, fmt.Errorf("%w: root, key store and tombstones are required", ErrInvalid)
	}
	opts = opts.withDefaults()
	m, err := newMetrics(opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	return &Keyring{
		root: root, store: store, graves: graves, opts: opts, metrics: m,
		gens: map[string]uint64{}, keks: map[string]*kek{}, enc: map[Scope]*dataKey{}, dec: map[decKey]*dataKey{},
		keysets: map[keysetKey]*tenantKeyset{},
	}, nil
}

// Close releases the keyring's metrics callback. Keys stay usable.
func (k *Keyring) Close() error { return k.metrics.reg.Unregister() }

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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return b
}

// keysetBytes and keysetFromBytes serialise a keyset in the clear, for
// wrapping under the tenant KEK at once.
func keysetBytes(h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewBinaryWriter(&buf)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func keysetFromBytes(b []byte) (*keyset.Handle, error) {
	return insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(b)))
}
