package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

var (
	t0   = time.Unix(1_700_000_000, 0)
	body = []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
)

func verifier(t testing.TB, clock *testclock.Clock, keys ...string) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: clock.Now}, keys...)
	require.NoError(t, err)
	return v
}

func TestSignVerifyRoundTrip(t *testing.T) {
	secret := webhook.NewSecret()
	sk, pk := webhook.NewKeyPair()
	assert.True(t, strings.HasPrefix(secret, "whsec_"))
	assert.True(t, strings.HasPrefix(sk, "whsk_") && strings.HasPrefix(pk, "whpk_"))

	s, err := webhook.NewSigner(secret, sk)
	require.NoError(t, err)
	h := http.Header{}
	require.NoError(t, s.SetHeaders(h, "msg_1", t0, body))
	entries := strings.Split(h.Get("webhook-signature"), " ")
	require.Len(t, entries, 2)
	assert.True(t, strings.HasPrefix(entries[0], "v1,"))
	assert.True(t, strings.HasPrefix(entries[1], "v1a,"))
	assert.Equal(t, "1700000000", h.Get("webhook-timestamp"))

	clock := testclock.New(t0)
	for _, keys := range [][]string{{secret}, {pk}, {webhook.NewSecret(), secret}, {strings.TrimPrefix(strings.TrimRight(secret, "="), "whsec_")}} {
		assert.NoError(t, verifier(t, clock, keys...).Verify(h, body), "keys %v", keys)
	}
	assert.ErrorIs(t, verifier(t, clock, webhook.NewSecret()).Verify(h, body), webhook.ErrNoMatch)
	_, otherPK := webhook.NewKeyPair()
	assert.ErrorIs(t, verifier(t, clock, otherPK).Verify(h, body), webhook.ErrNoMatch)
}

func TestSvixHeaders(t *testing.T) {
	secret := webhook.NewSecret()
	s, _ := webhook.NewSigner(secret)
	sig, err := s.Sign("msg_1", t0, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("svix-id", "msg_1")
	h.Set("svix-timestamp", "1700000000")
	h.Set("svix-signature", sig)
	assert.NoError(t, verifier(t, testclock.New(t0), secret).Verify(h, body))

	// Headers mixed from the two families are no family at all.
	v := verifier(t, testclock.New(t0), secret)
	for _, mixed := range [][3]string{
		{"webhook-id", "svix-timestamp", "svix-signature"},
		{"svix-id", "webhook-timestamp", "svix-signature"},
		{"svix-id", "svix-timestamp", "webhook-signature"},
		{"webhook-id", "webhook-timestamp", "svix-signature"},
	} {
		h := http.Header{}
		h.Set(mixed[0], "msg_1")
		h.Set(mixed[1], "1700000000")
		h.Set(mixed[2], sig)
		assert.ErrorIs(t, v.Verify(h, body), webhook.ErrMissingHeader, "%v", mixed)
	}
	// A complete webhook-* family wins over svix-* headers beside it.
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", "v1,bm90IGl0")
	assert.ErrorIs(t, v.Verify(h, body), webhook.ErrNoMatch)
}

// TestReceiverGivesTheVerifiedID: a handler behind Receiver learns the
// id of the message, from svix-id when Svix sent it, and replays are
// refused by that same id.
func TestReceiverGivesTheVerifiedID(t *testing.T) {
	secret := webhook.NewSecret()
	s, _ := webhook.NewSigner(secret)
	sig, err := s.Sign("msg_svix", t0, body)
	require.NoError(t, err)
	var got []string
	h := webhook.Receiver(verifier(t, testclock.New(t0), secret), webhook.ReceiverOptions{Seen: memstore.NewSeen(memstore.SeenOptions{Now: func() time.Time { return t0 }})})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, webhook.MessageID(r.Context())) }))
	send := func() int {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("svix-id", "msg_svix")
		r.Header.Set("svix-timestamp", "1700000000")
		r.Header.Set("svix-signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	assert.Equal(t, 200, send())
	assert.Equal(t, 409, send(), "the replay is refused by the svix-id")
	assert.Equal(t, []string{"msg_svix"}, got)
}

func TestVerifyRefusals(t *testing.T) {
	secret := webhook.NewSecret()
	s, _ := webhook.NewSigner(secret)
	sig, _ := s.Sign("msg_1", t0, body)
	clock := testclock.New(t0)
	v := verifier(t, clock, secret)
	ts := "1700000000"
	tests := []struct {
		name                string
		id, timestamp, sigs string
		body                []byte
		want                error
	}{
		{"ok", "msg_1", ts, sig, body, nil},
		{"missing id", "", ts, sig, body, webhook.ErrMissingHeader},
		{"missing timestamp", "msg_1", "", sig, body, webhook.ErrMissingHeader},
		{"missing signature", "msg_1", ts, "", body, webhook.ErrMissingHeader},
		{"id with dot", "msg.1", ts, sig, body, webhook.ErrMalformed},
		{"id with space", "msg 1", ts, sig, body, webhook.ErrMalformed},
		{"id too long", strings.Repeat("a", 257), ts, sig, body, webhook.ErrMalformed},
		{"fractional timestamp", "msg_1", ts + ".5", sig, body, webhook.ErrMalformed},
		{"signed timestamp", "msg_1", "+" + ts, sig, body, webhook.ErrMalformed},
		{"negative timestamp", "msg_1", "-5", sig, body, webhook.ErrMalformed},
		{"word timestamp", "msg_1", "now", sig, body, webhook.ErrMalformed},
		{"huge timestamp", "msg_1", strings.Repeat("9", 30), sig, body, webhook.ErrMalformed},
		{"too many entries", "msg_1", ts, strings.Repeat("v1,x ", 16) + sig, body, webhook.ErrMalformed},
		{"oversized header", "msg_1", ts, strings.Repeat("v", 9000), body, webhook.ErrMalformed},
		{"too old", "msg_1", strconv.FormatInt(t0.Unix()-301, 10), sig, body, webhook.ErrTooOld},
		{"too new", "msg_1", strconv.FormatInt(t0.Unix()+301, 10), sig, body, webhook.ErrTooNew},
		{"body changed", "msg_1", ts, sig, append([]byte(nil), append(body, ' ')...), webhook.ErrNoMatch},
		{"id changed", "msg_2", ts, sig, body, webhook.ErrNoMatch},
		{"unknown version only", "msg_1", ts, "v2," + strings.TrimPrefix(sig, "v1,"), body, webhook.ErrNoMatch},
		{"no comma", "msg_1", ts, strings.TrimPrefix(sig, "v1,"), body, webhook.ErrNoMatch},
		{"unknown version then match", "msg_1", ts, "v9,abc " + sig, body, nil},
		{"bad v1a then match", "msg_1", ts, "v1a,!!!! " + sig, body, nil},
	}
	for _, tc := range tests {
		err := v.VerifyValues(tc.id, tc.timestamp, tc.sigs, tc.body)
		if tc.want == nil {
			assert.NoError(t, err, tc.name)
		} else {
			assert.Equal(t, tc.want, err, tc.name)
		}
	}
	// The tolerance boundary is inclusive, and the clock is the verifier's.
	clock.Advance(300 * time.Second)
	assert.NoError(t, v.VerifyValues("msg_1", ts, sig, body))
	clock.Advance(time.Second)
	assert.Equal(t, webhook.ErrTooOld, v.VerifyValues("msg_1", ts, sig, body))
	wide, _ := webhook.NewVerifier(webhook.VerifyOptions{Tolerance: time.Hour, Now: clock.Now}, secret)
	assert.NoError(t, wide.VerifyValues("msg_1", ts, sig, body))
}

func TestKeyValidation(t *testing.T) {
	for _, k := range []string{"", "whsec_", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)),
		"whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 40))} {
		_, err := webhook.NewVerifier(webhook.VerifyOptions{}, k)
		_, err2 := webhook.NewSigner(k)
		assert.ErrorIs(t, err, webhook.ErrInvalidKey, "%q", k)
		assert.ErrorIs(t, err2, webhook.ErrInvalidKey, "%q", k)
	}
	_, err := webhook.NewSigner()
	assert.ErrorIs(t, err, webhook.ErrInvalidKey)
	_, err = webhook.NewVerifier(webhook.VerifyOptions{})
	assert.ErrorIs(t, err, webhook.ErrInvalidKey)
	s, _ := webhook.NewSigner(webhook.NewSecret())
	_, err = s.Sign("has.dot", t0, body)
	assert.ErrorIs(t, err, webhook.ErrMalformed)
	// A 64-byte secret key whose halves do not belong together is refused.
	sk, _ := webhook.NewKeyPair()
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sk, "whsk_"))
	raw[40] ^= 1
	_, err = webhook.NewSigner("whsk_" + base64.StdEncoding.EncodeToString(raw))
	assert.ErrorIs(t, err, webhook.ErrInvalidKey)
	// A 32-byte seed works.
	_, err = webhook.NewSigner("whsk_" + base64.StdEncoding.EncodeToString(raw[:32]))
	assert.NoError(t, err)
}

func TestReceiver(t *testing.T) {
	secret := webhook.NewSecret()
	s, _ := webhook.NewSigner(secret)
	clock := testclock.New(t0)
	v := verifier(t, clock, secret)
	var got []byte
	var fromCtx []byte
	h := webhook.Receiver(v, webhook.ReceiverOptions{MaxBody: 1024, Seen: memstore.NewSeen(memstore.SeenOptions{Now: clock.Now})})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
			fromCtx = webhook.Body(r.Context())
			w.WriteHeader(http.StatusNoContent)
		}))
	send := func(id string, b []byte, sign bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/hooks", strings.NewReader(string(b)))
		if sign {
			require.NoError(t, s.SetHeaders(req.Header, id, clock.Now(), b))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := send("msg_1", body, true)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, body, got)
	assert.Equal(t, body, fromCtx)

	reason := func(rec *httptest.ResponseRecorder) string {
		var p struct{ Detail string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
		return p.Detail
	}
	rec = send("msg_1", body, true)
	assert.Equal(t, http.StatusConflict, rec.Code, "replay accepted")
	assert.Contains(t, reason(rec), "replayed")
	rec = send("msg_2", body, false)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, reason(rec), "missing header")
	rec = send("msg_3", make([]byte, 1025), true)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)

	req := httptest.NewRequest("POST", "/hooks", strings.NewReader("tampered"))
	require.NoError(t, s.SetHeaders(req.Header, "msg_4", clock.Now(), body))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, reason(rec), "no matching signature")

	// Once the window has passed the id may be forgotten: the message is
	// refused as too old instead.
	clock.Advance(6 * time.Minute)
	rec = send("msg_1", body, true)
	assert.Equal(t, http.StatusNoContent, rec.Code, "a fresh message with a recycled id")
}

// FuzzVerify: no input panics, and only the real message verifies.
func FuzzVerify(f *testing.F) {
	secret := webhook.NewSecret()
	sk, pk := webhook.NewKeyPair()
	s, _ := webhook.NewSigner(secret, sk)
	sig, _ := s.Sign("msg_1", t0, body)
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{Now: func() time.Time { return t0 }}, secret, pk)
	f.Add("msg_1", "1700000000", sig, body)
	f.Add("msg_1", "1700000000", "v1,"+strings.Repeat("A", 44), body)
	f.Add("", "", "", []byte{})
	f.Add("m", "1700000000.0", "v1a,"+strings.Repeat("/", 88)+" v1,", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, b []byte) {
		err := v.VerifyValues(id, ts, sigs, b)
		if err == nil {
			assert.Equal(t, "msg_1", id)
			assert.Equal(t, "1700000000", ts)
			assert.Equal(t, string(body), string(b), "a changed body verified")
		}
	})
}

func TestReceiverReplayEdgeAndRetryAfterFailure(t *testing.T) {
	secret := webhook.NewSecret()
	s, _ := webhook.NewSigner(secret)
	clock := testclock.New(t0)
	v := verifier(t, clock, secret)
	fail := true
	calls := 0
	h := webhook.Receiver(v, webhook.ReceiverOptions{Seen: memstore.NewSeen(memstore.SeenOptions{Now: clock.Now})})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			if fail {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
	send := func(ts time.Time) int {
		req := httptest.NewRequest("POST", "/hooks", strings.NewReader(string(body)))
		require.NoError(t, s.SetHeaders(req.Header, "msg_1", ts, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, 500, send(t0))
	fail = false
	assert.Equal(t, 200, send(t0), "the retry of a failed message was refused as a replay")
	assert.Equal(t, 409, send(t0))
	clock.Advance(5*time.Minute + 500*time.Millisecond) // last accepted second
	assert.Equal(t, 409, send(t0), "a replay at the window's edge was accepted")
	assert.Equal(t, 2, calls)
}

func TestV1aSignaturesAreNotMalleable(t *testing.T) {
	sk, pk := webhook.NewKeyPair()
	s, _ := webhook.NewSigner(sk)
	sig, _ := s.Sign("msg_1", t0, body)
	v := verifier(t, testclock.New(t0), pk)
	require.NoError(t, v.VerifyValues("msg_1", "1700000000", sig, body))
	// 64 bytes leave 4 unused bits in the last base64 character; flipping
	// one must not give a second valid encoding.
	b := []byte(sig)
	last := len(b) - 3 // before "=="
	alt := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", b[last]) ^ 1
	b[last] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[alt]
	assert.Equal(t, webhook.ErrNoMatch, v.VerifyValues("msg_1", "1700000000", string(b), body))
}
