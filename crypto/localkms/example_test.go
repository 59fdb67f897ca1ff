package localkms_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/crypto/memstore"
)

func Example() {
	dir, _ := os.MkdirTemp("", "localkms-example")
	defer os.RemoveAll(dir)
	uri := localkms.NewKeyURI(filepath.Join(dir, "root.keyset"))

	// In a service the passphrase comes from a secret manager or the
	// environment, never from source code.
	kms, err := localkms.New([]byte("example passphrase, 16+ bytes"), localkms.Options{Create: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := kms.GetAEAD(uri) // creates root.keyset on first use
	if err != nil {
		fmt.Println(err)
		return
	}

	st := memstore.New()
	keyring, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	acme := skcrypto.Scope{Tenant: "acme"}
	ctx := context.Background()
	ct, _ := keyring.Encrypt(ctx, acme, []byte("top secret"), nil)
	pt, _ := keyring.Decrypt(ctx, acme, ct, nil)
	fmt.Println(string(pt))
	// Output: top secret
}

func ExampleClient_Rotate() {
	dir, _ := os.MkdirTemp("", "localkms-example")
	defer os.RemoveAll(dir)
	uri := localkms.NewKeyURI(filepath.Join(dir, "root.keyset"))
	kms, _ := localkms.New([]byte("example passphrase, 16+ bytes"), localkms.Options{Create: true})

	before, _ := kms.GetAEAD(uri)
	old, _ := before.Encrypt([]byte("wrapped before rotation"), nil)

	if err := kms.Rotate(uri); err != nil {
		fmt.Println(err)
		return
	}
	after, _ := kms.GetAEAD(uri) // encrypts with the new key
	pt, err := after.Decrypt(old, nil)
	fmt.Println(string(pt), err)
	// Output: wrapped before rotation <nil>
}
