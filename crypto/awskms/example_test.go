package awskms_test

import (
	"fmt"

	"github.com/saaskit/saaskit/crypto/awskms"
)

func Example() {
	// Credentials come from the AWS SDK's default chain when they are
	// used; New sends no request.
	kms, err := awskms.New("aws-kms://arn:aws:kms:eu-west-1:123456789012:", awskms.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	uri := "aws-kms://arn:aws:kms:eu-west-1:123456789012:alias/saaskit-root"
	fmt.Println(kms.Supported(uri))
	fmt.Println(kms.Supported("aws-kms://arn:aws:kms:us-east-1:123456789012:alias/saaskit-root"))

	// The root key for skcrypto.NewKeyring; each use is a request to AWS KMS.
	root, err := kms.GetAEAD(uri)
	fmt.Println(root != nil, err)
	// Output:
	// true
	// false
	// true <nil>
}
