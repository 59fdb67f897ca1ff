package bench

// Envelope encryption of 1 KiB, side by side over the same fake KMS
// (Tink's fakekms, an in-process AES-GCM keyset standing in for a
// network KMS, so these ratios understate the gap against a real one):
//
//   - tink-kmsenvelope: Tink's KMSEnvelopeAEAD. Every Encrypt makes a
//     fresh data key and calls the KMS to wrap it; every Decrypt calls the
//     KMS to unwrap it.
//   - saaskit: crypto.Keyring with a warm cache. The KMS unwrapped the
//     tenant's KEK once; data keys are reused within their limits.
//
// Run with
//
//	go test -run '^$' -bench Envelope -count 3 ./...

import (
	"bytes"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/memstore"
)

// countingKMS counts calls to the root key.
type countingKMS struct {
	tink.AEAD
	calls int
}

func (c *countingKMS) Encrypt(pt, ad []byte) ([]byte, error) {
	c.calls++
	return c.AEAD.Encrypt(pt, ad)
}
func (c *countingKMS) Decrypt(ct, ad []byte) ([]byte, error) {
	c.calls++
	return c.AEAD.Decrypt(ct, ad)
}

func fakeRoot(b *testing.B) *countingKMS {
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		b.Fatal(err)
	}
	a, err := fakekms.NewAEAD(uri)
	if err != nil {
		b.Fatal(err)
	}
	return &countingKMS{AEAD: a}
}

type envelope interface {
	Encrypt(pt, ad []byte) ([]byte, error)
	Decrypt(ct, ad []byte) ([]byte, error)
}

func sides(b *testing.B) map[string]func() (envelope, *countingKMS) {
	return map[string]func() (envelope, *countingKMS){
		"tink-kmsenvelope": func() (envelope, *countingKMS) {
			root := fakeRoot(b)
			return aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), root), root
		},
		"saaskit": func() (envelope, *countingKMS) {
			root := fakeRoot(b)
			st := memstore.New()
			k, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return k.AEAD(skcrypto.Scope{Tenant: "acme"}), root
		},
	}
}

func BenchmarkEnvelopeEncrypt1KiB(b *testing.B) {
	pt, ad := bytes.Repeat([]byte{7}, 1024), []byte("row-42")
	for _, name := range []string{"tink-kmsenvelope", "saaskit"} {
		b.Run(name, func(b *testing.B) {
			e, root := sides(b)[name]()
			if _, err := e.Encrypt(pt, ad); err != nil { // warm up
				b.Fatal(err)
			}
			root.calls = 0
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Encrypt(pt, ad); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(root.calls)/float64(b.N), "kms-calls/op")
		})
	}
}

func BenchmarkEnvelopeDecrypt1KiB(b *testing.B) {
	pt, ad := bytes.Repeat([]byte{7}, 1024), []byte("row-42")
	for _, name := range []string{"tink-kmsenvelope", "saaskit"} {
		b.Run(name, func(b *testing.B) {
			e, root := sides(b)[name]()
			ct, err := e.Encrypt(pt, ad)
			if err != nil {
				b.Fatal(err)
			}
			if got, err := e.Decrypt(ct, ad); err != nil || !bytes.Equal(got, pt) {
				b.Fatal("round trip failed", err)
			}
			root.calls = 0
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decrypt(ct, ad); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(root.calls)/float64(b.N), "kms-calls/op")
		})
	}
}
