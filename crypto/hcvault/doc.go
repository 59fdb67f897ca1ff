// Package hcvault is a root key in HashiCorp Vault's Transit secrets
// engine for package crypto's keyring: a thin constructor over Tink's
// HashiCorp Vault integration (github.com/tink-crypto/tink-go-hcvault)
// that returns a Tink KMS client.
//
// # Quick start
//
//	kms, err := hcvault.New("hcvault://vault.internal:8200/", hcvault.Options{})
//	if err != nil { ... }
//	root, err := kms.GetAEAD("hcvault://vault.internal:8200/transit/keys/saaskit-root")
//	if err != nil { ... }
//	keyring, err := skcrypto.NewKeyring(root, store, store, skcrypto.Options{})
//
// # Key URIs
//
// A key URI is "hcvault://HOST[:PORT]/MOUNT/keys/NAME": the Vault server,
// the path where Transit is mounted (it may hold slashes, such as
// "team/transit"), and the key's name. Encrypt calls PUT
// /v1/MOUNT/encrypt/NAME and Decrypt PUT /v1/MOUNT/decrypt/NAME. The
// client's prefix, given to [New], selects the URIs it supports: a whole
// server ("hcvault://vault.internal:8200/"), one mount, or one key.
//
// Requests go to "https://HOST[:PORT]" unless [Options.Address] says
// otherwise (for example a Vault agent, or plain http to a dev server).
//
// # Credentials
//
// The client authenticates with a Vault token: [Options.Token], else the
// VAULT_TOKEN environment variable. The Vault client also honours
// VAULT_NAMESPACE, VAULT_CACERT, VAULT_CLIENT_CERT and the other VAULT_*
// settings; Options take precedence. The token's policy needs "update" on
// MOUNT/encrypt/NAME and MOUNT/decrypt/NAME, nothing more:
//
//	path "transit/encrypt/saaskit-root" { capabilities = ["update"] }
//	path "transit/decrypt/saaskit-root" { capabilities = ["update"] }
//
// Create the key once, without key derivation (derived=false, the
// default), for example with "vault write -f transit/keys/saaskit-root".
// Rotating it in Vault ("vault write -f transit/keys/saaskit-root/rotate")
// keeps old versions for decryption, so existing tenant keys still unwrap.
//
// # Associated data
//
// Associated data goes in Transit's "associated_data" parameter, which
// Vault binds to AES-GCM ciphertexts. [Options.LegacyContext] sends it as
// "context" instead, as Tink's deprecated constructor did; use it only to
// read data wrapped that way.
//
// Each Encrypt and Decrypt is one request; the keyring calls the root key
// about once per tenant per data-key lifetime, not per message.
package hcvault
