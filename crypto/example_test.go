package crypto_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/memstore"
)

// newExampleKeyring uses Tink's fake KMS as the root key; a service uses
// localkms or a cloud KMS client.
func newExampleKeyring() *skcrypto.Keyring {
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri)
	st := memstore.New()
	k, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	return k
}

func Example() {
	ctx := context.Background()
	k := newExampleKeyring()
	alice := skcrypto.Scope{Tenant: "acme", Subject: "alice"}

	ct, _ := k.Encrypt(ctx, alice, []byte("alice@acme.example"), []byte("users.email"))
	pt, _ := k.Decrypt(ctx, alice, ct, []byte("users.email"))
	fmt.Println(string(pt))

	// The same bytes in another tenant's row do not decrypt.
	_, err := k.Decrypt(ctx, skcrypto.Scope{Tenant: "globex", Subject: "alice"}, ct, []byte("users.email"))
	fmt.Println(errors.Is(err, skcrypto.ErrDecrypt))
	// Output:
	// alice@acme.example
	// true
}

func ExampleKeyring_ShredSubject() {
	ctx := context.Background()
	k := newExampleKeyring()
	bob := skcrypto.Scope{Tenant: "acme", Subject: "bob"}
	ct, _ := k.Encrypt(ctx, bob, []byte("bob's address"), nil)

	ev, _ := k.ShredSubject(ctx, "acme", "bob")
	fmt.Println(len(ev.KeyIDs), "key destroyed")
	_, err := k.Decrypt(ctx, bob, ct, nil)
	fmt.Println(errors.Is(err, skcrypto.ErrKeyDestroyed))
	// Output:
	// 1 key destroyed
	// true
}

func ExampleKeyring_BlindIndex() {
	ctx := context.Background()
	k := newExampleKeyring()
	// Store the index beside the encrypted email; look users up by it.
	stored, _ := k.BlindIndex(ctx, "acme", "users.email", []byte("ada@example.com"))
	query, _ := k.BlindIndex(ctx, "acme", "users.email", []byte("ada@example.com"))
	otherTenant, _ := k.BlindIndex(ctx, "globex", "users.email", []byte("ada@example.com"))
	fmt.Println(string(stored) == string(query), string(stored) == string(otherTenant))
	// Output: true false
}

func ExampleKeyring_RotateKEK() {
	ctx := context.Background()
	k := newExampleKeyring()
	s := skcrypto.Scope{Tenant: "acme"}
	old, _ := k.Encrypt(ctx, s, []byte("written under version 1"), nil)

	v, _ := k.RotateKEK(ctx, "acme")
	n, _ := k.Rewrap(ctx, "acme")
	err := k.SetMinDecryptionVersion(ctx, "acme", v)
	fmt.Println("version", v, "rewrapped", n, "retired:", err == nil)

	pt, _ := k.Decrypt(ctx, s, old, nil)
	fmt.Println(string(pt))
	// Output:
	// version 2 rewrapped 1 retired: true
	// written under version 1
}
