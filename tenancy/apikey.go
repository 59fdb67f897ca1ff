package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// API key tokens look like
//
//	sk_live_ 2Rk8fQz0LmW1 Xv93...(32) 0aZ9kQ
//	prefix   key ID (12)  secret       CRC32 of all before it (6)
//
// without the spaces, all base62 after the prefix. The checksum lets a
// typo be refused without a store lookup; the key ID finds the record; the
// secret is compared, in constant time, with the SHA-256 stored for it.
const (
	keyIDLen     = 12
	keySecretLen = 32 // 190 bits
	keyCRCLen    = 6  // 62^6 > 2^32
	keyBodyLen   = keyIDLen + keySecretLen + keyCRCLen
	maxPrefixLen = 16
	maxTokenLen  = maxPrefixLen + keyBodyLen

	// DefaultKeyPrefix starts tokens made without KeyOptions.Prefix.
	DefaultKeyPrefix = "sk_live_"

	maxScopes = 50
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// KeyOptions describe a new API key.
type KeyOptions struct {
	Name      string    // label, at most 200 printable characters
	Scopes    []string  // each 1 to 64 characters of a-z, A-Z, 0-9, ':', '.', '_', '-'
	ExpiresAt time.Time // zero: never
	// Prefix starts the token; 2 to 16 characters of a-z, 0-9 and '_',
	// ending with '_'. Default DefaultKeyPrefix. Use distinct prefixes
	// ("sk_test_") so secret scanners can tell keys apart.
	Prefix string
}

// token is a parsed API key token.
type token struct {
	prefix, id, secret string
}

// parseToken checks a token's syntax and checksum.
func parseToken(s string) (token, error) {
	if len(s) > maxTokenLen || len(s) < keyBodyLen+2 {
		return token{}, fmt.Errorf("api key: %w: wrong length", ErrMalformed)
	}
	p := len(s) - keyBodyLen
	tk := token{prefix: s[:p], id: s[p : p+keyIDLen], secret: s[p+keyIDLen : len(s)-keyCRCLen]}
	if !validPrefix(tk.prefix) {
		return token{}, fmt.Errorf("api key: %w: bad prefix", ErrMalformed)
	}
	for i := p; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return token{}, fmt.Errorf("api key: %w: bad character", ErrMalformed)
		}
	}
	if s[len(s)-keyCRCLen:] != checksum(s[:len(s)-keyCRCLen]) {
		return token{}, fmt.Errorf("api key: %w: checksum mismatch", ErrMalformed)
	}
	return tk, nil
}

func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > maxPrefixLen || p[len(p)-1] != '_' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func checksum(s string) string {
	var out [keyCRCLen]byte
	v := crc32.ChecksumIEEE([]byte(s))
	for i := keyCRCLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

func randomBase62(n int) string {
	b := make([]byte, n)
	// Rejection sampling keeps every character equally likely.
	var buf [64]byte
	for i := 0; i < n; {
		_, _ = rand.Read(buf[:]) // never fails on supported platforms
		for _, c := range buf {
			if c < 248 && i < n { // 248 = 4*62
				b[i] = base62[c%62]
				i++
			}
		}
	}
	return string(b)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func validateKeyOptions(o *KeyOptions, now time.Time) error {
	var errs []error
	if o.Prefix == "" {
		o.Prefix = DefaultKeyPrefix
	}
	if !validPrefix(o.Prefix) {
		errs = append(errs, fieldErr("prefix", "must be 2 to 16 characters of a-z, 0-9 and '_', ending with '_'"))
	}
	if len(o.Name) > maxNameLen || !printable(o.Name) {
		errs = append(errs, fieldErr("name", "must be at most 200 printable characters"))
	}
	if len(o.Scopes) > maxScopes {
		errs = append(errs, fieldErr("scopes", "must hold at most 50 scopes"))
	}
	for _, s := range o.Scopes {
		if !validScope(s) {
			errs = append(errs, fieldErr("scopes", "each must be 1 to 64 characters of a-z, A-Z, 0-9, ':', '.', '_' and '-'"))
			break
		}
	}
	if !o.ExpiresAt.IsZero() && !o.ExpiresAt.After(now) {
		errs = append(errs, fieldErr("expires_at", "must be in the future"))
	}
	return errors.Join(errs...)
}

func validScope(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != ':' && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// HasScope reports whether the key carries scope.
func (k *APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// usable reports whether the key may authenticate at now.
func (k *APIKey) usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

func (r *Registry) keyStore() (KeyStore, error) {
	if r.keys == nil {
		return nil, errors.New("tenancy: registry has no key store")
	}
	return r.keys, nil
}

// CreateKey issues an API key for the tenant. The returned token is the
// only copy of the secret: show it once and never log it.
//
// When ctx carries a [Principal] (a request authenticated by a tenant's
// credential), the key is minted on its behalf: only for its own tenant
// and with a subset of its own scopes, otherwise ErrForbidden. A context
// without one (the operator's tools, a seed) may mint any key.
func (r *Registry) CreateKey(ctx context.Context, tenantID string, opts KeyOptions) (string, *APIKey, error) {
	ks, err := r.keyStore()
	if err != nil {
		return "", nil, err
	}
	if err := mayMint(ctx, tenantID, opts.Scopes); err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	now := r.clock.Now().UTC().Truncate(time.Microsecond)
	if err := validateKeyOptions(&opts, now); err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	if _, err := r.store.Lookup(ctx, ByID, tenantID); err != nil {
		return "", nil, fmt.Errorf("create api key for tenant %q: %w", tenantID, err)
	}
	id, secret := randomBase62(keyIDLen), randomBase62(keySecretLen)
	body := opts.Prefix + id + secret
	tok := body + checksum(body)
	k := &APIKey{
		ID: id, TenantID: tenantID, Name: opts.Name, Prefix: opts.Prefix,
		Hash: hashSecret(secret), Last4: tok[len(tok)-4:], Scopes: slices.Clone(opts.Scopes),
		CreatedAt: now, ExpiresAt: opts.ExpiresAt.UTC().Truncate(time.Microsecond),
	}
	if err := ks.CreateKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	return tok, k, nil
}

// mayMint checks that ctx's principal, if any, may mint a key for
// tenantID with scopes.
func mayMint(ctx context.Context, tenantID string, scopes []string) error {
	p, ok := PrincipalFromContext(ctx)
	if !ok {
		return nil
	}
	if p.Tenant == nil || p.Tenant.ID != tenantID {
		return fmt.Errorf("%w: a credential mints keys for its own tenant only", ErrForbidden)
	}
	for _, s := range scopes {
		if !p.HasScope(s) {
			return fmt.Errorf("%w: scope %q is not among the minting credential's scopes", ErrForbidden, s)
		}
	}
	return nil
}

// Authenticate checks a token and returns the key and its tenant, both
// shared with the Registry's caches: read them, never change them.
// Syntax errors give ErrMalformed; an unknown, revoked, expired or wrong
// key gives ErrUnauthenticated. The tenant's status is the caller's to
// check.
func (r *Registry) Authenticate(ctx context.Context, tok string) (*Tenant, *APIKey, error) {
	ks, err := r.keyStore()
	if err != nil {
		return nil, nil, err
	}
	parsed, err := parseToken(tok)
	if err != nil {
		return nil, nil, err
	}
	k, err := r.findKey(ctx, ks, parsed.id)
	if err != nil {
		return nil, nil, err
	}
	now := r.clock.Now()
	if subtle.ConstantTimeCompare(hashSecret(parsed.secret), k.Hash) != 1 || k.Prefix != parsed.prefix || !k.usable(now) {
		return nil, nil, ErrUnauthenticated
	}
	t, err := r.lookup(ctx, ByID, k.TenantID)
	if err != nil {
		return nil, nil, err
	}
	if r.touchDue(k, now) {
		used := now.UTC().Truncate(time.Microsecond)
		if err := ks.UpdateKey(ctx, k.TenantID, k.ID, KeyChange{LastUsedAt: used}); err != nil {
			return nil, nil, fmt.Errorf("record api key use: %w", err)
		}
		r.touched.Store(k.ID, used.UnixNano())
	}
	return t, k, nil
}

// touchDue reports whether the key's LastUsedAt is older than
// KeyTouchInterval, by the stored value or by this Registry's last
// write. The touch is remembered apart from the cached key, so writing it
// never makes a cached key (and a revocation it misses) live longer.
func (r *Registry) touchDue(k *APIKey, now time.Time) bool {
	last := k.LastUsedAt.UnixNano()
	if v, ok := r.touched.Load(k.ID); ok {
		last = max(last, v.(int64))
	}
	return now.UnixNano()-last >= int64(r.opts.KeyTouchInterval)
}

func (r *Registry) findKey(ctx context.Context, ks KeyStore, id string) (*APIKey, error) {
	if k, err, ok := r.keyc.get(id); ok {
		return k, err
	}
	gen := r.keyc.generation()
	k, err := ks.FindKey(ctx, id)
	switch {
	case err == nil:
		r.keyc.put(id, k, nil, gen)
		return k, nil
	case errors.Is(err, ErrNotFound):
		r.keyc.put(id, nil, ErrUnauthenticated, gen)
		return nil, ErrUnauthenticated
	}
	return nil, fmt.Errorf("find api key: %w", err)
}

// ListKeys returns the tenant's keys, oldest first.
func (r *Registry) ListKeys(ctx context.Context, tenantID string) ([]*APIKey, error) {
	ks, err := r.keyStore()
	if err != nil {
		return nil, err
	}
	keys, err := ks.ListKeys(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes the tenant's key at once.
func (r *Registry) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	return r.changeKey(ctx, tenantID, keyID, KeyChange{RevokedAt: r.clock.Now().UTC().Truncate(time.Microsecond)})
}

// RotateKey issues a replacement for the tenant's key with the same name,
// scopes, prefix and lifetime, and lets the old key work for overlap more
// (never longer than it had), so clients can switch without downtime.
func (r *Registry) RotateKey(ctx context.Context, tenantID, keyID string, overlap time.Duration) (string, *APIKey, error) {
	ks, err := r.keyStore()
	if err != nil {
		return "", nil, err
	}
	if overlap < 0 {
		return "", nil, fmt.Errorf("rotate api key: %w", fieldErr("overlap", "must not be negative"))
	}
	old, err := ks.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return "", nil, fmt.Errorf("rotate api key %s: %w", keyID, err)
	}
	now := r.clock.Now()
	if !old.usable(now) {
		return "", nil, fmt.Errorf("rotate api key %s: %w", keyID, fieldErr("key", "must not be revoked or expired"))
	}
	opts := KeyOptions{Name: old.Name, Scopes: old.Scopes, Prefix: old.Prefix}
	if !old.ExpiresAt.IsZero() {
		opts.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	tok, k, err := r.CreateKey(ctx, tenantID, opts)
	if err != nil {
		return "", nil, err
	}
	if err := r.changeKey(ctx, tenantID, keyID, KeyChange{ExpiresAt: now.Add(overlap).UTC().Truncate(time.Microsecond)}); err != nil {
		return "", nil, err
	}
	return tok, k, nil
}

func (r *Registry) changeKey(ctx context.Context, tenantID, keyID string, ch KeyChange) error {
	ks, err := r.keyStore()
	if err != nil {
		return err
	}
	if err := ks.UpdateKey(ctx, tenantID, keyID, ch); err != nil {
		return fmt.Errorf("update api key %s: %w", keyID, err)
	}
	r.invalidate()
	return nil
}
