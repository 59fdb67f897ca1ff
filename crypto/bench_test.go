package crypto_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"

	skcrypto "github.com/saaskit/saaskit/crypto"
)

// Each benchmark runs its limit, the raw Tink primitive on the same
// input, as a sub-benchmark of the same run: compare the ratio.

func BenchmarkEncrypt1KiB(b *testing.B) {
	pt, ad := bytes.Repeat([]byte{7}, 1024), []byte("users.email:42")
	b.Run("tink-aes256gcm", func(b *testing.B) {
		h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if err != nil {
			b.Fatal(err)
		}
		a, err := aead.New(h)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Encrypt(pt, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyring", func(b *testing.B) {
		f := newFixture(b, skcrypto.Options{})
		if _, err := f.k.Encrypt(ctx, acme, pt, ad); err != nil { // warm the cache
			b.Fatal(err)
		}
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.k.Encrypt(ctx, acme, pt, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecrypt1KiB(b *testing.B) {
	pt, ad := bytes.Repeat([]byte{7}, 1024), []byte("users.email:42")
	b.Run("tink-aes256gcm", func(b *testing.B) {
		h, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		a, _ := aead.New(h)
		ct, err := a.Encrypt(pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Decrypt(ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyring", func(b *testing.B) {
		f := newFixture(b, skcrypto.Options{})
		ct, err := f.k.Encrypt(ctx, acme, pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.k.Decrypt(ctx, acme, ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStream64MiB(b *testing.B) {
	chunk := bytes.Repeat([]byte{1}, 1<<20)
	const total = 64 << 20
	write := func(b *testing.B, w io.WriteCloser) {
		for range total / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("tink-aes256gcmhkdf", func(b *testing.B) {
		h, _ := keyset.NewHandle(streamingaead.AES256GCMHKDF1MBKeyTemplate())
		s, err := streamingaead.New(h)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		b.ReportAllocs()
		for b.Loop() {
			w, err := s.NewEncryptingWriter(io.Discard, nil)
			if err != nil {
				b.Fatal(err)
			}
			write(b, w)
		}
	})
	b.Run("keyring", func(b *testing.B) {
		f := newFixture(b, skcrypto.Options{})
		b.SetBytes(total)
		b.ReportAllocs()
		for b.Loop() {
			w, err := f.k.EncryptStream(ctx, "acme", io.Discard, nil)
			if err != nil {
				b.Fatal(err)
			}
			write(b, w)
		}
	})
}
