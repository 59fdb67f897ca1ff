package crypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

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
