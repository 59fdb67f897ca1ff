package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"sync"
)

// hmacKey is a prepared HMAC-SHA256 key. Building an HMAC hashes the key
// into its inner and outer pads; keeping built ones in a pool and Reset-ing
// them means no message pays for that, and no message allocates.
type hmacKey struct {
	pool sync.Pool // of *macState
}

// macState is one reusable HMAC with scratch space for a message.
type macState struct {
	mac    hash.Hash
	prefix []byte            // "{id}.{timestamp}."
	sum    [sha256.Size]byte // the raw MAC
	b64    [44]byte          // the MAC in standard base64
}

func newHMACKey(secret []byte) *hmacKey {
	k := &hmacKey{}
	k.pool.New = func() any { return &macState{mac: hmac.New(sha256.New, secret), prefix: make([]byte, 0, 64)} }
	return k
}

// sign computes the base64 v1 signature of {id}.{ts}.{body}. The result
// aliases st until st goes back to the pool.
func (st *macState) sign(id string, ts int64, body []byte) []byte {
	st.prefix = appendPrefix(st.prefix[:0], id, ts)
	st.mac.Reset()
	st.mac.Write(st.prefix)
	st.mac.Write(body)
	sum := st.mac.Sum(st.sum[:0])
	base64.StdEncoding.Encode(st.b64[:], sum)
	return st.b64[:]
}

// appendPrefix appends "{id}.{ts}." to b.
func appendPrefix(b []byte, id string, ts int64) []byte {
	b = append(b, id...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '.')
}
