package hcvault_test

import (
	"fmt"
	"os"

	"github.com/saaskit/saaskit/crypto/hcvault"
)

func Example() {
	// New contacts no server; the token comes from the environment.
	kms, err := hcvault.New("hcvault://vault.internal:8200/transit/", hcvault.Options{Token: os.Getenv("VAULT_TOKEN")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kms.Supported("hcvault://vault.internal:8200/transit/keys/saaskit-root"))
	fmt.Println(kms.Supported("hcvault://vault.internal:8200/other/keys/saaskit-root"))

	// The root key for skcrypto.NewKeyring; each use is a request to Vault.
	root, err := kms.GetAEAD("hcvault://vault.internal:8200/transit/keys/saaskit-root")
	fmt.Println(root != nil, err)
	// Output:
	// true
	// false
	// true <nil>
}
