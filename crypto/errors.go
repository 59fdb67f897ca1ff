package crypto

import "errors"

// Sentinel errors. Test with errors.Is; messages never hold key material
// or plaintext.
var (
	// ErrDecrypt: the ciphertext is malformed, was tampered with, or was
	// sealed with other associated data, another tenant or another subject.
	ErrDecrypt = errors.New("crypto: decryption failed")
	// ErrKeyDestroyed: the key was shredded. Data under it is gone for
	// good, including copies in backups.
	ErrKeyDestroyed = errors.New("crypto: key destroyed")
	// ErrKeyRetired: the key is older than the tenant's minimum
	// decryption version.
	ErrKeyRetired = errors.New("crypto: key retired")
	// ErrKMS: the root key service failed or is unreachable. Nothing is
	// encrypted or decrypted without it: the keyring fails closed.
	ErrKMS = errors.New("crypto: key management service unavailable")
	// ErrNotFound: no such key record.
	ErrNotFound = errors.New("crypto: not found")
	// ErrConflict: a key record with that ID exists, or an update was
	// made against a stale version.
	ErrConflict = errors.New("crypto: conflict")
	// ErrInvalid: an argument failed validation; the message names it.
	ErrInvalid = errors.New("crypto: invalid argument")
)
