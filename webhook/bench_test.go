package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// Sign and Verify beside their limit, one prepared HMAC-SHA256 over the
// same signed content, in the same run: compare the ratio.

var benchBody = bytes.Repeat([]byte("x"), 1024)

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func BenchmarkSign1KiB(b *testing.B) {
	b.Run("hmac-raw", func(b *testing.B) { benchRawHMAC(b) })
	b.Run("saaskit", func(b *testing.B) {
		s, err := webhook.NewSigner(benchSecret)
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			if dst, err = s.AppendSignature(dst[:0], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify1KiB(b *testing.B) {
	b.Run("hmac-raw", func(b *testing.B) { benchRawHMAC(b) })
	b.Run("saaskit", func(b *testing.B) {
		s, _ := webhook.NewSigner(benchSecret)
		sig, _ := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), benchBody)
		v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: func() time.Time { return time.Unix(1614265330, 0) }}, benchSecret)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.VerifyValues("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, benchBody); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := v.VerifyValues("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchRawHMAC is the limit: a prepared HMAC over "{id}.{ts}.{body}".
func benchRawHMAC(b *testing.B) {
	mac := hmac.New(sha256.New, []byte("0123456789abcdef01234567"))
	prefix := strconv.AppendInt([]byte("msg_p5jXN8AQM9LWM0D4loKWxJek."), 1614265330, 10)
	prefix = append(prefix, '.')
	sum := make([]byte, 0, sha256.Size)
	b.ReportAllocs()
	for b.Loop() {
		mac.Reset()
		mac.Write(prefix)
		mac.Write(benchBody)
		sum = mac.Sum(sum[:0])
	}
}

func BenchmarkVerifyEd25519(b *testing.B) {
	sk, pk := webhook.NewKeyPair()
	s, _ := webhook.NewSigner(sk)
	sig, _ := s.Sign("msg_1", time.Unix(1614265330, 0), benchBody)
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{Now: func() time.Time { return time.Unix(1614265330, 0) }}, pk)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyValues("msg_1", "1614265330", sig, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}
