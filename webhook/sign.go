package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Signer signs webhooks with one or more keys: during a rotation, give it
// the new and the old key and every message carries both signatures.
// It is safe for concurrent use.
type Signer struct {
	hmacs   []*hmacKey
	ed      []ed25519.PrivateKey
	content sync.Pool // *[]byte holding "{id}.{ts}.{body}" for Ed25519
}

// NewSigner returns a Signer for the keys: "whsec_" secrets sign "v1"
// (HMAC-SHA256), "whsk_" keys sign "v1a" (Ed25519). A key without a
// prefix is taken as a symmetric secret.
func NewSigner(keys ...string) (*Signer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no signing key", ErrInvalidKey)
	}
	s := &Signer{}
	s.content.New = func() any { b := make([]byte, 0, 1024); return &b }
	var err error
	if s.hmacs, s.ed, err = splitKeys(keys, SecretKeyPrefix, parsePrivateKey); err != nil {
		return nil, err
	}
	return s, nil
}

// AppendSignature appends the webhook-signature header value for the
// message to dst: space-separated "v1,<base64>" and "v1a,<base64>"
// entries, one per key. With a dst of enough capacity it does not
// allocate. id must not contain '.'.
func (s *Signer) AppendSignature(dst []byte, id string, ts int64, body []byte) ([]byte, error) {
	if !validID(id) {
		return dst, fmt.Errorf("%w: id must be 1 to %d bytes without '.' or spaces", ErrMalformed, maxIDLen)
	}
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ' ')
		}
		first = false
	}
	for _, k := range s.hmacs {
		st := k.pool.Get().(*macState)
		sep()
		dst = append(dst, "v1,"...)
		dst = append(dst, st.sign(id, ts, body)...)
		k.pool.Put(st)
	}
	if len(s.ed) > 0 {
		buf := s.content.Get().(*[]byte)
		msg := append(appendPrefix((*buf)[:0], id, ts), body...)
		for _, priv := range s.ed {
			sep()
			dst = append(dst, "v1a,"...)
			dst = base64.StdEncoding.AppendEncode(dst, ed25519.Sign(priv, msg))
		}
		*buf = msg
		s.content.Put(buf)
	}
	return dst, nil
}

// Sign returns the webhook-signature header value for the message.
func (s *Signer) Sign(id string, ts time.Time, body []byte) (string, error) {
	b, err := s.AppendSignature(make([]byte, 0, 64*(len(s.hmacs)+2*len(s.ed))), id, ts.Unix(), body)
	return string(b), err
}

// SetHeaders sets webhook-id, webhook-timestamp and webhook-signature on h.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) error {
	sig, err := s.Sign(id, ts, body)
	if err != nil {
		return err
	}
	// Canonical keys, set directly: the header names are fixed, and
	// canonicalising them again would cost an allocation each.
	h[idHeaders[0]] = []string{id}
	h[timestampHeaders[0]] = []string{strconv.FormatInt(ts.Unix(), 10)}
	h[signatureHeaders[0]] = []string{sig}
	return nil
}
