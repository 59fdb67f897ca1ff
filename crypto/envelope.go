package crypto

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// dataKey is an unwrapped data-encryption key and its usage so far.
type dataKey struct {
	id       dekID
	subject  string
	aead     cipher.AEAD // AES-256-GCM, random 12-byte nonce first, as Tink's AES-GCM lays it out
	created  time.Time
	loaded   time.Time
	messages atomic.Int64
	bytes    atomic.Int64
	liveness
}

// take counts one message of n bytes against the key's limits and
// reports whether the key may encrypt it.
func (d *dataKey) take(k *Keyring, now time.Time, n int) bool {
	return now.Sub(d.created) < k.opts.DataKeyMaxAge &&
		d.messages.Add(1) <= k.opts.DataKeyMaxMessages &&
		d.bytes.Add(int64(n)) <= k.opts.DataKeyMaxBytes
}

// Encrypt seals plaintext for the scope with the scope's current data key.
// ad is authenticated, not encrypted; the tenant and subject are always
// bound too, so the ciphertext only decrypts for the same scope and ad.
func (k *Keyring) Encrypt(ctx context.Context, s Scope, plaintext, ad []byte) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	d, err := k.currentDataKey(ctx, s, len(plaintext))
	if err != nil {
		k.metrics.failure(ctx, "encrypt")
		return nil, err
	}
	out := make([]byte, envelopeHeader, envelopeHeader+len(plaintext)+gcmOverhead)
	out[0], out[1] = formatV1, kindEnvelope
	copy(out[2:], d.id[:])
	return d.aead.Seal(out, nil, plaintext, boundAD("dek", s, out, ad)), nil
}

// Decrypt opens a ciphertext made by Encrypt for the same scope and ad.
// A shredded key gives ErrKeyDestroyed, a retired one ErrKeyRetired, and
// anything else that does not authenticate ErrDecrypt.
func (k *Keyring) Decrypt(ctx context.Context, s Scope, ciphertext, ad []byte) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	pt, err := k.decrypt(ctx, s, ciphertext, ad)
	if err != nil {
		k.metrics.failure(ctx, "decrypt")
	}
	return pt, err
}

func (k *Keyring) decrypt(ctx context.Context, s Scope, ciphertext, ad []byte) ([]byte, error) {
	id, header, sealed, err := parseEnvelope(ciphertext)
	if err != nil {
		return nil, err
	}
	d, err := k.decryptionKey(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if d.subject != s.Subject {
		return nil, fmt.Errorf("%w: ciphertext belongs to another subject", ErrDecrypt)
	}
	pt, err := d.aead.Open(nil, nil, sealed, boundAD("dek", s, header, ad))
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext or associated data does not authenticate", ErrDecrypt)
	}
	return pt, nil
}

// currentDataKey returns the key the scope encrypts with, making a new
// one when the cached one reached a limit.
func (k *Keyring) currentDataKey(ctx context.Context, s Scope, n int) (*dataKey, error) {
	now := k.opts.Now()
	k.cacheMu.RLock()
	d := k.enc[s]
	k.cacheMu.RUnlock()
	if d != nil && d.take(k, now, n) {
		k.metrics.cache(ctx, "dek", true)
		if d.due(k, now) {
			if err := k.stillAlive(ctx, s.Tenant, d.id.String(), &d.liveness, now); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	k.metrics.cache(ctx, "dek", false)

	if k.opts.RotationPeriod > 0 {
		e, err := k.tenantKEK(ctx, s.Tenant, true)
		if err != nil {
			return nil, err
		}
		if k.rotationDue(&e.meta, e.primary) {
			if err := k.rotateIfDue(ctx, s.Tenant); err != nil {
				return nil, err
			}
		}
	}
	mu := k.tenantLock(s.Tenant)
	mu.Lock()
	defer mu.Unlock()
	gen := k.generation(s.Tenant)
	k.cacheMu.RLock()
	d = k.enc[s]
	k.cacheMu.RUnlock()
	if d != nil && d.take(k, now, n) { // another goroutine made one meanwhile
		return d, nil
	}
	// A fresh key for every process and every limit reached: usage counts
	// live in memory, so a key is never picked up again with its counts
	// reset.
	d, err := k.newDataKey(ctx, s, now, gen)
	if err != nil {
		return nil, err
	}
	d.take(k, now, n)
	putCached(k, k.enc, s, d, s.Tenant, gen)
	return d, nil
}

// newDataKey makes, wraps and stores a data key for the scope. The KEK
// is read fresh from the store first, so the key is never wrapped by a
// version another process has already retired.
func (k *Keyring) newDataKey(ctx context.Context, s Scope, now time.Time, gen uint64) (*dataKey, error) {
	e, err := k.freshKEK(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	var id dekID
	copy(id[:], randomBytes(dekIDLen))
	raw := randomBytes(32)
	rec := &KeyRecord{TenantID: s.Tenant, ID: id.String(), Kind: KindDEK, Subject: s.Subject, CreatedAt: now.UTC()}
	if err := e.wrap(rec, raw); err != nil {
		return nil, err
	}
	if err := k.store.Create(ctx, rec); err != nil {
		return nil, fmt.Errorf("store data key: %w", err)
	}
	return k.cacheDataKey(s.Tenant, id, s.Subject, raw, rec.CreatedAt, gen)
}

func (k *Keyring) cacheDataKey(tenant string, id dekID, subject string, raw []byte, created time.Time, gen uint64) (*dataKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	now := k.opts.Now()
	d := &dataKey{id: id, subject: subject, aead: a, created: created, loaded: now}
	d.checked.Store(now.UnixNano())
	putCached(k, k.dec, decKey{tenant, id}, d, tenant, gen)
	return d, nil
}

// decryptionKey returns the unwrapped data key with that ID.
func (k *Keyring) decryptionKey(ctx context.Context, s Scope, id dekID) (*dataKey, error) {
	now := k.opts.Now()
	k.cacheMu.RLock()
	d := k.dec[decKey{s.Tenant, id}]
	k.cacheMu.RUnlock()
	if d != nil && now.Sub(d.loaded) < k.opts.DataKeyMaxAge {
		k.metrics.cache(ctx, "dek", true)
		if d.due(k, now) {
			if err := k.stillAlive(ctx, s.Tenant, id.String(), &d.liveness, now); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	k.metrics.cache(ctx, "dek", false)
	gen := k.generation(s.Tenant)
	if err := k.checkAlive(ctx, s.Tenant, id.String()); err != nil {
		return nil, err
	}
	rec, err := k.store.Get(ctx, s.Tenant, id.String())
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: tenant %s has no key %s", ErrDecrypt, s.Tenant, id)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	if rec.Kind != KindDEK {
		return nil, fmt.Errorf("%w: key %s is not a data key", ErrDecrypt, id)
	}
	return k.openDataKey(ctx, rec, id, gen)
}

func (k *Keyring) openDataKey(ctx context.Context, rec *KeyRecord, id dekID, gen uint64) (*dataKey, error) {
	raw, err := k.unwrapRecord(ctx, rec)
	if err != nil {
		return nil, err
	}
	return k.cacheDataKey(rec.TenantID, id, rec.Subject, raw, rec.CreatedAt, gen)
}

// forgetEncryptionKeys drops the cached encryption keys of the scopes
// that match, so the next message gets a fresh key.
func (k *Keyring) forgetEncryptionKeys(match func(Scope) bool) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	for s := range k.enc {
		if match(s) {
			delete(k.enc, s)
		}
	}
}

// Reencrypt opens a ciphertext and seals it again with the scope's
// current data key: the batch helper for moving rows off old keys.
func (k *Keyring) Reencrypt(ctx context.Context, s Scope, ciphertext, ad []byte) ([]byte, error) {
	pt, err := k.Decrypt(ctx, s, ciphertext, ad)
	if err != nil {
		return nil, err
	}
	return k.Encrypt(ctx, s, pt, ad)
}

// Row is one stored ciphertext for ReencryptAll.
type Row struct {
	ID         string // the caller's row key, passed back to save
	Ciphertext []byte
	AD         []byte
}

// ReencryptAll re-encrypts every row that rows yields, saving each with
// save, and returns how many it saved. It stops at the first error, so a
// rerun continues where it left off (re-encrypting twice is harmless).
func (k *Keyring) ReencryptAll(ctx context.Context, s Scope, rows func(yield func(Row) bool), save func(id string, ciphertext []byte) error) (int, error) {
	n := 0
	var err error
	rows(func(r Row) bool {
		if err = ctx.Err(); err != nil {
			return false
		}
		var ct []byte
		if ct, err = k.Reencrypt(ctx, s, r.Ciphertext, r.AD); err != nil {
			err = fmt.Errorf("row %s: %w", r.ID, err)
			return false
		}
		if err = save(r.ID, ct); err != nil {
			err = fmt.Errorf("save row %s: %w", r.ID, err)
			return false
		}
		n++
		return true
	})
	return n, err
}

// AEAD returns the keyring bound to one scope as a tink.AEAD, for
// packages that take one (webhook secrets, backups).
func (k *Keyring) AEAD(s Scope) *ScopedAEAD { return &ScopedAEAD{k: k, s: s} }

// ScopedAEAD is a Keyring bound to a scope; it implements tink.AEAD.
type ScopedAEAD struct {
	k *Keyring
	s Scope
}

// Encrypt implements tink.AEAD.
func (a *ScopedAEAD) Encrypt(plaintext, ad []byte) ([]byte, error) {
	return a.k.Encrypt(context.Background(), a.s, plaintext, ad)
}

// Decrypt implements tink.AEAD.
func (a *ScopedAEAD) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	return a.k.Decrypt(context.Background(), a.s, ciphertext, ad)
}
