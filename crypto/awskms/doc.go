// Package awskms is a root key in AWS KMS for package crypto's keyring: a
// thin constructor over Tink's AWS KMS integration
// (github.com/tink-crypto/tink-go-awskms) that returns a Tink KMS client.
//
// It is a Go module of its own, github.com/saaskit/saaskit/crypto/awskms,
// so that the AWS SDK is added only to services that import it, never to
// the saaskit module. Tink's integration is built on the AWS SDK for Go
// v1 (github.com/aws/aws-sdk-go), which AWS no longer maintains; the
// Options.KMS field exposes its client type.
//
// # Quick start
//
//	kms, err := awskms.New("aws-kms://arn:aws:kms:eu-west-1:123456789012:", awskms.Options{})
//	if err != nil { ... }
//	root, err := kms.GetAEAD("aws-kms://arn:aws:kms:eu-west-1:123456789012:alias/saaskit-root")
//	if err != nil { ... }
//	keyring, err := skcrypto.NewKeyring(root, store, store, skcrypto.Options{})
//
// # Key URIs
//
// A key URI is "aws-kms://" followed by the ARN of a symmetric key
// ("arn:aws:kms:REGION:ACCOUNT:key/ID") or of an alias
// ("arn:aws:kms:REGION:ACCOUNT:alias/NAME"). The client's prefix, given to
// [New], must name the partition and the region
// ("aws-kms://arn:aws:kms:eu-west-1:"), which is where requests go; it may
// go on to name an account or one key.
//
// # Credentials
//
// With zero Options, the AWS SDK's default chain finds credentials when
// they are first used: the AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN environment variables, the shared credentials and
// config files (AWS_PROFILE), web identity (EKS service-account roles),
// then the ECS task role or the EC2 instance role. [Options.CredentialsFile]
// reads a credentials file instead; [Options.KMS] takes a configured SDK
// client for anything else (endpoints, retries, assumed roles).
//
// The identity needs kms:Encrypt and kms:Decrypt on the key, nothing more.
// Create a symmetric key once and give it an alias, for example with
// "aws kms create-key" and "aws kms create-alias --alias-name
// alias/saaskit-root --target-key-id ID". With automatic key rotation on,
// AWS keeps old key material for decryption, so existing tenant keys
// still unwrap.
//
// # Associated data
//
// Associated data travels in the request's encryption context, hex
// encoded, under the name "associatedData" ([Options.LegacyAdditionalData]
// switches to "additionalData", as Tink's deprecated constructors used),
// so AWS KMS binds it to the ciphertext and CloudTrail logs it: it must
// not hold secrets. The keyring's associated data for the root key is a
// purpose label and the tenant ID, nothing secret. Each Encrypt and
// Decrypt is one request.
package awskms
