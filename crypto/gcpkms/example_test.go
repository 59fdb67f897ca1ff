package gcpkms_test

import (
	"context"
	"fmt"

	"google.golang.org/api/option"

	"github.com/saaskit/saaskit/crypto/gcpkms"
)

func Example() {
	ctx := context.Background()
	// A service passes no ClientOptions (Application Default Credentials)
	// or its credentials; this example uses none so that it runs offline.
	kms, err := gcpkms.New(ctx, "gcp-kms://projects/acme-prod/", gcpkms.Options{
		REST:          true,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kms.Close()

	uri := "gcp-kms://projects/acme-prod/locations/europe-west1/keyRings/saaskit/cryptoKeys/root"
	fmt.Println(kms.Supported(uri))
	// The root key for skcrypto.NewKeyring; each use is a request to Cloud KMS.
	root, err := kms.GetAEAD(uri)
	fmt.Println(root != nil, err)
	// Output:
	// true
	// true <nil>
}
