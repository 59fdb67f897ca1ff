package memstore_test

import (
	"context"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/memstore"
)

// A keyring over the in-memory store, for tests: the store keeps the
// wrapped keys and the tombstones of shredded ones.
func Example() {
	uri, _ := fakekms.NewKeyURI() // a service uses localkms or a cloud KMS
	root, _ := fakekms.NewAEAD(uri)
	st := memstore.New()
	k, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	if err != nil {
		panic(err)
	}
	defer k.Close()
	ctx := context.Background()
	scope := skcrypto.Scope{Tenant: "acme", Subject: "usr_ada"}
	ct, _ := k.Encrypt(ctx, scope, []byte("ada@example.com"), nil)
	pt, err := k.Decrypt(ctx, scope, ct, nil)
	fmt.Println(string(pt), err)
	// Output: ada@example.com <nil>
}
