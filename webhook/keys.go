package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key prefixes from the Standard Webhooks specification.
const (
	SecretPrefix     = "whsec_" // symmetric secret, signatures "v1"
	SecretKeyPrefix  = "whsk_"  // Ed25519 private key, signatures "v1a"
	PublicKeyPrefix  = "whpk_"  // Ed25519 public key
	minSecretLen     = 24
	maxSecretLen     = 64
	defaultSecretLen = 32
)

// NewSecret returns a fresh symmetric signing secret: "whsec_" and the
// standard base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, defaultSecretLen)
	_, _ = rand.Read(b) // never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// NewKeyPair returns a fresh Ed25519 key pair for "v1a" signatures: the
// secret key ("whsk_" and the base64 of the 64-byte private key, seed then
// public key, as libsodium and Go lay it out) for the sender, and the
// public key ("whpk_" and the base64 of its 32 bytes) for receivers.
func NewKeyPair() (secretKey, publicKey string) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader) // never fails with crypto/rand
	return SecretKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// parseSecret decodes a symmetric secret, with or without its prefix,
// padded or not.
func parseSecret(s string) ([]byte, error) {
	key, err := decodeBase64(strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not base64", ErrInvalidKey)
	}
	if len(key) < minSecretLen || len(key) > maxSecretLen {
		return nil, fmt.Errorf("%w: secret must decode to 24 to 64 bytes, not %d", ErrInvalidKey, len(key))
	}
	return key, nil
}

// parsePrivateKey decodes a "whsk_" key: a 64-byte private key or a
// 32-byte seed.
func parsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeBase64(strings.TrimPrefix(strings.TrimSpace(s), SecretKeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: secret key is not base64", ErrInvalidKey)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(b[ed25519.SeedSize:])) {
			return nil, fmt.Errorf("%w: secret key's public half does not match its seed", ErrInvalidKey)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: secret key must decode to 32 or 64 bytes, not %d", ErrInvalidKey, len(b))
}

// parsePublicKey decodes a "whpk_" key.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(strings.TrimPrefix(strings.TrimSpace(s), PublicKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key must be base64 of 32 bytes", ErrInvalidKey)
	}
	return ed25519.PublicKey(b), nil
}

// splitKeys sorts keys into symmetric secrets (prepared HMACs) and keys
// of the asymmetric kind that carries prefix, parsed with parse.
func splitKeys[K any](keys []string, prefix string, parse func(string) (K, error)) ([]*hmacKey, []K, error) {
	var (
		hmacs []*hmacKey
		asym  []K
	)
	for i, k := range keys {
		if strings.HasPrefix(strings.TrimSpace(k), prefix) {
			key, err := parse(k)
			if err != nil {
				return nil, nil, fmt.Errorf("key %d: %w", i, err)
			}
			asym = append(asym, key)
			continue
		}
		secret, err := parseSecret(k)
		if err != nil {
			return nil, nil, fmt.Errorf("key %d: %w", i, err)
		}
		hmacs = append(hmacs, newHMACKey(secret))
	}
	return hmacs, asym, nil
}
