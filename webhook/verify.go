package webhook

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names. Verification also reads the svix- forms that Svix sends.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Canonical forms, for allocation-free lookups in an http.Header.
var (
	idHeaders        = [2]string{"Webhook-Id", "Svix-Id"}
	timestampHeaders = [2]string{"Webhook-Timestamp", "Svix-Timestamp"}
	signatureHeaders = [2]string{"Webhook-Signature", "Svix-Signature"}
)

// Input bounds.
const (
	maxIDLen             = 256
	maxSignatureHeader   = 8 << 10
	defaultMaxSignatures = 16
	defaultTolerance     = 5 * time.Minute
)

// VerifyOptions configure a Verifier. The zero value is the
// specification's default.
type VerifyOptions struct {
	// Tolerance is how far the timestamp may be from now, in either
	// direction. Default 5 minutes.
	Tolerance time.Duration
	// MaxSignatures bounds the entries in the signature header. Default 16.
	MaxSignatures int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks webhook signatures against trusted keys. It is safe
// for concurrent use.
type Verifier struct {
	hmacs   []*hmacKey
	pubs    []ed25519.PublicKey
	opts    VerifyOptions
	content sync.Pool // *[]byte holding "{id}.{ts}.{body}" for Ed25519
}

// NewVerifier returns a Verifier trusting the keys: "whsec_" secrets
// check "v1" signatures, "whpk_" public keys check "v1a" signatures. A key
// without a prefix is taken as a symmetric secret. Secrets may be padded
// or not.
func NewVerifier(opts VerifyOptions, keys ...string) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no verification key", ErrInvalidKey)
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = defaultTolerance
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = defaultMaxSignatures
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{opts: opts}
	v.content.New = func() any { b := make([]byte, 0, 1024); return &b }
	var err error
	if v.hmacs, v.pubs, err = splitKeys(keys, PublicKeyPrefix, parsePublicKey); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks the webhook headers in h against body: the webhook-*
// family when all three of its headers are present, else the svix-*
// family; headers mixed from the two are not a family, and are
// ErrMissingHeader, as the reference library and Svix have it. It
// returns nil or exactly one of ErrMissingHeader, ErrMalformed,
// ErrTooOld, ErrTooNew and ErrNoMatch.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, ts, sigs := headerFamily(h)
	return v.VerifyValues(id, ts, sigs, body)
}

// headerFamily returns the id, timestamp and signature headers of the
// first complete family in h (webhook-*, then svix-*), or empty strings.
func headerFamily(h http.Header) (id, timestamp, signatures string) {
	for i := range idHeaders {
		id, timestamp, signatures = value(h, idHeaders[i]), value(h, timestampHeaders[i]), value(h, signatureHeaders[i])
		if id != "" && timestamp != "" && signatures != "" {
			return id, timestamp, signatures
		}
	}
	return "", "", ""
}

// value is h's first value for the canonical name, or "".
func value(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// VerifyValues is Verify with the three header values given directly.
func (v *Verifier) VerifyValues(id, timestamp, signatures string, body []byte) error {
	if id == "" || timestamp == "" || signatures == "" {
		return ErrMissingHeader
	}
	if !validID(id) || len(signatures) > maxSignatureHeader {
		return ErrMalformed
	}
	ts, ok := parseTimestamp(timestamp)
	if !ok {
		return ErrMalformed
	}
	now := v.opts.Now().Unix()
	tol := int64(v.opts.Tolerance / time.Second)
	switch {
	case ts < now-tol:
		return ErrTooOld
	case ts > now+tol:
		return ErrTooNew
	}
	if strings.Count(signatures, " ") >= v.opts.MaxSignatures {
		return ErrMalformed
	}
	return v.match(id, ts, signatures, body)
}

// match reports whether any supported entry of signatures matches.
func (v *Verifier) match(id string, ts int64, signatures string, body []byte) error {
	// One HMAC per key, computed when the first v1 entry needs it.
	var states [4]*macState
	computed := states[:0]
	defer func() {
		for i, st := range computed {
			v.hmacs[i].pool.Put(st)
		}
	}()
	var msg *[]byte
	defer func() {
		if msg != nil {
			v.content.Put(msg)
		}
	}()
	for rest := signatures; rest != ""; {
		var entry string
		entry, rest, _ = strings.Cut(rest, " ")
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		switch version {
		case "v1":
			for i, k := range v.hmacs {
				if i == len(computed) {
					st := k.pool.Get().(*macState)
					st.sign(id, ts, body)
					computed = append(computed, st)
				}
				if constantTimeEqual(computed[i].b64[:], sig) {
					return nil
				}
			}
		case "v1a":
			if len(v.pubs) == 0 {
				continue
			}
			// Decode panics when dst is shorter than src needs, so check
			// the length first: 64 bytes encode to exactly 88 characters.
			if len(sig) != base64.StdEncoding.EncodedLen(ed25519.SignatureSize) {
				continue
			}
			var raw [ed25519.SignatureSize + 2]byte
			// Strict: the unused low bits of the last character must be
			// zero, so no two encodings of one signature both verify.
			n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(sig))
			if err != nil || n != ed25519.SignatureSize {
				continue
			}
			if msg == nil {
				msg = v.content.Get().(*[]byte)
				*msg = append(appendPrefix((*msg)[:0], id, ts), body...)
			}
			for _, pub := range v.pubs {
				if ed25519.Verify(pub, *msg, raw[:n]) {
					return nil
				}
			}
		}
	}
	return ErrNoMatch
}

// constantTimeEqual compares a computed signature with a received one in
// time that depends only on their lengths, which are public.
func constantTimeEqual(computed []byte, received string) bool {
	if len(computed) != len(received) {
		return false
	}
	var diff byte
	for i := range computed {
		diff |= computed[i] ^ received[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// parseTimestamp accepts decimal Unix seconds: digits only, no sign, no
// fraction, at most 18 digits.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	return ts, err == nil
}

// validID: 1 to 256 bytes, no '.', no space, no control characters.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '.' || c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
