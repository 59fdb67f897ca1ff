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
		return d, nil
	}
	k.metrics.cache(ctx, "dek", false)

	e, err := k.tenantKEK(ctx, s.Tenant, true)
	if err != nil {
		return nil, err
	}
	if k.rotationDue(e) {
		if _, err := k.RotateKEK(ctx, s.Tenant); err != nil && !errors.Is(err, ErrConflict) {
			return nil, err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cacheMu.RLock()
	d = k.enc[s]
	k.cacheMu.RUnlock()
	if d != nil && d.take(k, now, n) { // another goroutine made one meanwhile
		return d, nil
	}
	exhausted := d != nil
	d = nil
	if !exhausted { // a cold start: pick up a recent key if there is one
		if d, err = k.reuseDataKey(ctx, s, now); err != nil {
			return nil, err
		}
	}
	if d == nil {
		if d, err = k.newDataKey(ctx, s, now); err != nil {
			return nil, err
		}
	}
	d.take(k, now, n)
	putBounded(k, k.enc, s, d)
	return d, nil
}

// reuseDataKey picks up the scope's newest stored data key while it is
// younger than DataKeyMaxAge, so restarts do not mint a key per scope.
// Its message and byte counts start again from zero in this process.
func (k *Keyring) reuseDataKey(ctx context.Context, s Scope, now time.Time) (*dataKey, error) {
	recs, err := k.store.List(ctx, s.Tenant, Filter{Kind: KindDEK, Subject: s.Subject, SubjectSet: true})
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	newest := recs[len(recs)-1]
	if now.Sub(newest.CreatedAt) >= k.opts.DataKeyMaxAge/2 {
		return nil, nil
	}
	e, err := k.tenantKEK(ctx, s.Tenant, false)
	if err != nil || newest.WrappedBy != e.primary {
		return nil, err // wrapped by an older KEK version: make a new one
	}
	id, err := parseDEKID(newest.ID)
	if err != nil {
		return nil, err
	}
	if k.checkAlive(ctx, s.Tenant, newest.ID) != nil {
		return nil, nil
	}
	return k.openDataKey(ctx, newest, id)
}

func (k *Keyring) newDataKey(ctx context.Context, s Scope, now time.Time) (*dataKey, error) {
	e, err := k.tenantKEK(ctx, s.Tenant, true)
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
	return k.cacheDataKey(s.Tenant, id, s.Subject, raw, rec.CreatedAt)
}

func (k *Keyring) cacheDataKey(tenant string, id dekID, subject string, raw []byte, created time.Time) (*dataKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	d := &dataKey{id: id, subject: subject, aead: a, created: created, loaded: k.opts.Now()}
	putBounded(k, k.dec, decKey{tenant, id}, d)
	return d, nil
}

// decryptionKey returns the unwrapped data key with that ID.
func (k *Keyring) decryptionKey(ctx context.Context, s Scope, id dekID) (*dataKey, error) {
	k.cacheMu.RLock()
	d := k.dec[decKey{s.Tenant, id}]
	k.cacheMu.RUnlock()
	if d != nil && k.opts.Now().Sub(d.loaded) < k.opts.DataKeyMaxAge {
		k.metrics.cache(ctx, "dek", true)
		return d, nil
	}
	k.metrics.cache(ctx, "dek", false)
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
	return k.openDataKey(ctx, rec, id)
}

func (k *Keyring) openDataKey(ctx context.Context, rec *KeyRecord, id dekID) (*dataKey, error) {
	raw, err := k.unwrapRecord(ctx, rec)
	if err != nil {
		return nil, err
	}
	return k.cacheDataKey(rec.TenantID, id, rec.Subject, raw, rec.CreatedAt)
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
