// Package gcpkms is a root key in Google Cloud KMS for package crypto's
// keyring: a thin constructor over Tink's Cloud KMS integration
// (github.com/tink-crypto/tink-go-gcpkms) that returns a Tink KMS client.
//
// It is a Go module of its own, github.com/saaskit/saaskit/crypto/gcpkms,
// so that the Google Cloud client libraries and gRPC (about 160 modules)
// are added only to services that import it, never to the saaskit module.
//
// # Quick start
//
//	kms, err := gcpkms.New(ctx, "gcp-kms://projects/acme-prod/", gcpkms.Options{})
//	if err != nil { ... }
//	defer kms.Close()
//	root, err := kms.GetAEAD("gcp-kms://projects/acme-prod/locations/europe-west1/keyRings/saaskit/cryptoKeys/root")
//	if err != nil { ... }
//	keyring, err := skcrypto.NewKeyring(root, store, store, skcrypto.Options{})
//
// # Key URIs
//
// A key URI is "gcp-kms://" followed by the resource name of a symmetric
// CryptoKey: "gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K".
// Encrypt uses the key's primary version; Decrypt finds the version from
// the ciphertext. The client's prefix, given to [New], selects the URIs it
// supports: "gcp-kms://" for every key, or a prefix such as
// "gcp-kms://projects/P/" for one project.
//
// # Credentials
//
// With no [Options.ClientOptions], the client uses Application Default
// Credentials: the file named by GOOGLE_APPLICATION_CREDENTIALS (a
// service-account key or a workload identity federation configuration),
// else gcloud's application-default login, else the service account
// attached to the workload (Compute Engine, GKE Workload Identity, Cloud
// Run), read from the metadata server. To choose, pass options from
// google.golang.org/api/option, such as option.WithAuthCredentialsFile or
// option.WithTokenSource.
//
// The identity needs roles/cloudkms.cryptoKeyEncrypterDecrypter on the
// key, nothing more. Create the key once, for example:
//
//	gcloud kms keyrings create saaskit --location europe-west1
//	gcloud kms keys create root --keyring saaskit --location europe-west1 \
//	    --purpose encryption --rotation-period 90d --next-rotation-time 2030-01-01T00:00:00Z
//
// Cloud KMS keeps old key versions for decryption after a rotation, so
// existing tenant keys still unwrap; do not disable or destroy a version
// while anything is wrapped under it.
//
// # Transport
//
// The client talks gRPC by default; [Options.REST] switches to HTTP and
// JSON. Tink adds CRC32C integrity checks to every request and response.
// Each Encrypt and Decrypt is one request; the keyring calls the root key
// about once per tenant per data-key lifetime, not per message.
package gcpkms
