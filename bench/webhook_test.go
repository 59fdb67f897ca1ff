package bench

// Standard Webhooks signing and verification, side by side, and
// interoperability with the peers:
//
//   - hmac-raw: the limit. One prepared hmac.New(sha256.New, key), per op
//     Reset, Write of a prebuilt "{id}.{ts}.", Write of the body, Sum into
//     a reused buffer (verify adds hmac.Equal against the expected MAC). No
//     timestamp formatting, no base64, no header parsing.
//   - saaskit: webhook.Signer.AppendSignature into a reused dst, and
//     webhook.Verifier.VerifyValues with a fixed clock near the timestamp.
//   - standard-webhooks: the reference Go library,
//     github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
//     (package .../libraries/go): Webhook.Sign and Webhook.Verify(body,
//     http.Header), set up with NewWebhook(secret) as its README shows.
//   - svix: Svix's Go library, github.com/svix/svix-webhooks v1.44.0
//     (package .../go): the same calls, with svix-* headers.
//
// All sides sign the same 1 KiB body with the same 32-byte secret. The
// peers read the clock themselves, so the timestamp is time.Now() at setup
// and stays within their 5-minute tolerance for the run. Each benchmark
// checks once, before its loop, that its operation succeeds. Run with
//
//	go test -run '^$' -bench Webhook -count 3 ./...

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/saaskit/saaskit/webhook"
)

const (
	whID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	// whSecret is 32 bytes in base64 with one '=' of padding, so that the
	// unpadded form differs from the padded one.
	whSecret         = "whsec_3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	whSecretUnpadded = "whsec_3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs"
	whSecretOld      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the specification's reference secret
)

var whBody = bytes.Repeat([]byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`), 24)[:1024]

// whHeaders returns the three headers under the given prefix ("webhook-"
// or "svix-").
func whHeaders(prefix, id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(prefix+"id", id)
	h.Set(prefix+"timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set(prefix+"signature", sig)
	return h
}

func whVerifier(t testing.TB, keys ...string) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// peerWebhooks returns the reference library's and Svix's webhook objects
// for the shared test secret.
func peerWebhooks(t *testing.T) (*standardwebhooks.Webhook, *svix.Webhook) {
	t.Helper()
	sw, err := standardwebhooks.NewWebhook(whSecret)
	if err != nil {
		t.Fatal(err)
	}
	sx, err := svix.NewWebhook(whSecret)
	if err != nil {
		t.Fatal(err)
	}
	return sw, sx
}

// TestWebhookInteropSaaskitToPeers: what saaskit signs, the peers accept.
func TestWebhookInteropSaaskitToPeers(t *testing.T) {
	now := time.Now()
	sw, sx := peerWebhooks(t)
	swOld, err := standardwebhooks.NewWebhook(whSecretOld)
	if err != nil {
		t.Fatal(err)
	}
	edSecret, _ := webhook.NewKeyPair()

	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"padded secret", []string{whSecret}},
		{"unpadded secret", []string{whSecretUnpadded}},
		{"unprefixed secret", []string{whSecret[len("whsec_"):]}},
		// Rotation with an Ed25519 key too: the peers skip the entries
		// they do not know and match theirs.
		{"rotation with v1a", []string{whSecretOld, whSecret, edSecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := webhook.NewSigner(tc.keys...)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			if err := s.SetHeaders(h, whID, now, whBody); err != nil {
				t.Fatal(err)
			}
			if err := sw.Verify(whBody, h); err != nil {
				t.Errorf("standard-webhooks refused saaskit's webhook-* headers %q: %v", h.Get("webhook-signature"), err)
			}
			if err := sx.Verify(whBody, h); err != nil {
				t.Errorf("svix refused saaskit's webhook-* headers: %v", err)
			}
			sh := whHeaders("svix-", whID, now, h.Get("webhook-signature"))
			if err := sx.Verify(whBody, sh); err != nil {
				t.Errorf("svix refused saaskit's signature under svix-* headers: %v", err)
			}
			if len(tc.keys) > 1 {
				if err := swOld.Verify(whBody, h); err != nil {
					t.Errorf("standard-webhooks with the old secret refused the rotated header: %v", err)
				}
			}
			// A changed body fails on their side too.
			tampered := append([]byte{}, whBody...)
			tampered[0] ^= 1
			if sw.Verify(tampered, h) == nil || sx.Verify(tampered, h) == nil {
				t.Error("a peer accepted a tampered body")
			}
		})
	}
}

// TestWebhookInteropPeersToSaaskit: what the peers sign, saaskit accepts,
// with the secret in any form a user might paste.
func TestWebhookInteropPeersToSaaskit(t *testing.T) {
	now := time.Now()
	sw, sx := peerWebhooks(t)
	swSig, err := sw.Sign(whID, now, whBody)
	if err != nil {
		t.Fatal(err)
	}
	sxSig, err := sx.Sign(whID, now, whBody)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := webhook.NewSigner(whSecret)
	if err != nil {
		t.Fatal(err)
	}
	ourSig, err := ours.Sign(whID, now, whBody)
	if err != nil {
		t.Fatal(err)
	}
	if swSig != ourSig || sxSig != ourSig {
		t.Errorf("signatures differ: standard-webhooks %q, svix %q, saaskit %q", swSig, sxSig, ourSig)
	}

	for _, key := range []string{whSecret, whSecretUnpadded, whSecret[len("whsec_"):], whSecretUnpadded[len("whsec_"):]} {
		v := whVerifier(t, key)
		for _, tc := range []struct {
			name string
			h    http.Header
		}{
			{"standard-webhooks webhook-*", whHeaders("webhook-", whID, now, swSig)},
			{"svix svix-*", whHeaders("svix-", whID, now, sxSig)},
			{"svix webhook-*", whHeaders("webhook-", whID, now, sxSig)},
		} {
			if err := v.Verify(tc.h, whBody); err != nil {
				t.Errorf("saaskit with key %q refused %s: %v", key, tc.name, err)
			}
			tampered := append([]byte{}, whBody...)
			tampered[len(tampered)-1] ^= 1
			if err := v.Verify(tc.h, tampered); err != webhook.ErrNoMatch {
				t.Errorf("saaskit with key %q: tampered %s = %v, want ErrNoMatch", key, tc.name, err)
			}
		}
	}

	// The reference vector, as both peers compute it, verifies with saaskit.
	ref := time.Unix(1614265330, 0)
	refBody := []byte(`{"test": 2432232314}`)
	old, err := standardwebhooks.NewWebhook(whSecretOld)
	if err != nil {
		t.Fatal(err)
	}
	refSig, err := old.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ref, refBody)
	if err != nil {
		t.Fatal(err)
	}
	if refSig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("standard-webhooks reference signature = %q", refSig)
	}
	v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: func() time.Time { return ref }}, whSecretOld)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyValues("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", refSig, refBody); err != nil {
		t.Errorf("saaskit refused the reference vector: %v", err)
	}
}

// whKey is the raw 32 bytes of whSecret, decoded the way the peers decode
// it, so every side holds the same key.
func whKey(b *testing.B) []byte {
	b.Helper()
	k := mustB64Decode(b, strings.TrimPrefix(whSecret, "whsec_"))
	if len(k) != 32 {
		b.Fatalf("secret is %d bytes", len(k))
	}
	return k
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func mustB64Decode(b *testing.B, s string) []byte {
	b.Helper()
	p, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkWebhookSign(b *testing.B) {
	now := time.Now()
	ts := now.Unix()
	key := whKey(b)
	ours, err := webhook.NewSigner(whSecret)
	if err != nil {
		b.Fatal(err)
	}
	want, err := ours.Sign(whID, now, whBody)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("hmac-raw", func(b *testing.B) {
		mac := hmac.New(sha256.New, key)
		prefix := []byte(whID + "." + strconv.FormatInt(ts, 10) + ".")
		var buf [sha256.Size]byte
		sign := func() []byte {
			mac.Reset()
			mac.Write(prefix)
			mac.Write(whBody)
			return mac.Sum(buf[:0])
		}
		if "v1,"+b64(sign()) != want {
			b.Fatal("hmac-raw disagrees with saaskit")
		}
		b.ReportAllocs()
		for b.Loop() {
			sign()
		}
	})
	b.Run("saaskit", func(b *testing.B) {
		dst := make([]byte, 0, 128)
		got, err := ours.AppendSignature(dst[:0], whID, ts, whBody)
		if err != nil || string(got) != want {
			b.Fatal("saaskit sign failed", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			dst, _ = ours.AppendSignature(dst[:0], whID, ts, whBody)
		}
	})
	b.Run("standard-webhooks", func(b *testing.B) {
		wh, err := standardwebhooks.NewWebhook(whSecret)
		if err != nil {
			b.Fatal(err)
		}
		if got, err := wh.Sign(whID, now, whBody); err != nil || got != want {
			b.Fatal("standard-webhooks sign failed", got, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			wh.Sign(whID, now, whBody)
		}
	})
	b.Run("svix", func(b *testing.B) {
		wh, err := svix.NewWebhook(whSecret)
		if err != nil {
			b.Fatal(err)
		}
		if got, err := wh.Sign(whID, now, whBody); err != nil || got != want {
			b.Fatal("svix sign failed", got, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			wh.Sign(whID, now, whBody)
		}
	})
}

func BenchmarkWebhookVerify(b *testing.B) {
	now := time.Now()
	ts := now.Unix()
	tsStr := strconv.FormatInt(ts, 10)
	key := whKey(b)
	ours, err := webhook.NewSigner(whSecret)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := ours.Sign(whID, now, whBody)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("hmac-raw", func(b *testing.B) {
		mac := hmac.New(sha256.New, key)
		prefix := []byte(whID + "." + tsStr + ".")
		expected := mustB64Decode(b, sig[len("v1,"):])
		var buf [sha256.Size]byte
		verify := func() bool {
			mac.Reset()
			mac.Write(prefix)
			mac.Write(whBody)
			return hmac.Equal(mac.Sum(buf[:0]), expected)
		}
		if !verify() {
			b.Fatal("hmac-raw verify failed")
		}
		b.ReportAllocs()
		for b.Loop() {
			verify()
		}
	})
	b.Run("saaskit", func(b *testing.B) {
		clock := func() time.Time { return now }
		v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: clock}, whSecret)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.VerifyValues(whID, tsStr, sig, whBody); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			v.VerifyValues(whID, tsStr, sig, whBody)
		}
	})
	b.Run("standard-webhooks", func(b *testing.B) {
		wh, err := standardwebhooks.NewWebhook(whSecret)
		if err != nil {
			b.Fatal(err)
		}
		h := whHeaders("webhook-", whID, now, sig)
		if err := wh.Verify(whBody, h); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			wh.Verify(whBody, h)
		}
	})
	b.Run("svix", func(b *testing.B) {
		wh, err := svix.NewWebhook(whSecret)
		if err != nil {
			b.Fatal(err)
		}
		h := whHeaders("svix-", whID, now, sig)
		if err := wh.Verify(whBody, h); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			wh.Verify(whBody, h)
		}
	})
}
