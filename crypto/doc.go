// Package crypto is per-tenant envelope encryption on Tink: keys that
// rotate, data keys cached within limits, searchable encryption,
// streaming, crypto-shredding that reaches backups, and TLS settings for
// data in transit. Import it beside the standard library as
//
//	import skcrypto "github.com/saaskit/saaskit/crypto"
//
// # Quick start
//
//	root, _ := localkms.New(passphrase, localkms.Options{Create: true}) // or a cloud KMS client
//	rootAEAD, _ := root.GetAEAD("local-kms://data/root.keyset")
//	st := memstore.New() // or sqlstore.New(db)
//	k, _ := skcrypto.NewKeyring(rootAEAD, st, st, skcrypto.Options{})
//
//	s := skcrypto.Scope{Tenant: "acme", Subject: "user-42"}
//	ct, _ := k.Encrypt(ctx, s, []byte("ada@example.com"), []byte("users.email:42"))
//	pt, _ := k.Decrypt(ctx, s, ct, []byte("users.email:42"))
//
// # Key hierarchy
//
//	root key (in a KMS: Cloud KMS, AWS KMS, Vault, or a local keyset file)
//	└── tenant KEK: a Tink AES-256-GCM keyset per tenant, wrapped by the
//	    root with the tenant ID as associated data; versions 1, 2, ...
//	    ├── data keys (AES-256-GCM) per tenant, and per data subject whose
//	    │   data must be erasable on its own
//	    ├── deterministic keyset (AES-SIV) for equality-searchable columns
//	    ├── blind-index keyset (HMAC-SHA256 PRF)
//	    └── streaming keyset (AES-256-GCM-HKDF, 1 MiB segments)
//
// Every key is stored wrapped, in a [KeyStore] (memstore, sqlstore for
// SQLite and PostgreSQL; cryptotest is the conformance suite). The KMS is
// called to unwrap a tenant's KEK, about once per tenant per
// Options.DataKeyMaxAge; data keys encrypt until they reach an age, a
// message count or a byte count, in the spirit of the AWS Encryption
// SDK's caching materials manager. Tink's own KMSEnvelopeAEAD calls the
// KMS on every message. Usage is counted in memory, so each process makes
// its own data keys and never takes up another's with its count reset.
//
// Ciphertexts are self-describing: a format version, a kind and the data
// key's ID. The associated data always binds the tenant and the subject,
// so a ciphertext copied into another tenant's or subject's row fails to
// decrypt.
//
// # Rotation
//
//  1. AddKEKVersion adds version n+1 to a tenant's KEK; PromoteKEKVersion
//     makes it wrap new keys (RotateKEK does both; Options.RotationPeriod
//     does it automatically).
//  2. Rewrap re-wraps every data and search key of the tenant under the
//     primary version. No data is read or written.
//  3. SetMinDecryptionVersion retires older versions. It refuses while
//     any key is still wrapped by one of them, so retiring never loses
//     data. New keys are wrapped with the KEK as stored at that moment,
//     and Rewrap also repairs a key a lagging process wrapped by a
//     version retired in the meantime.
//
// To move data itself onto fresh data keys, use Reencrypt or
// ReencryptAll over your rows.
//
// # Searchable encryption
//
// BlindIndex gives a keyed hash of a normalised value to store beside
// its ciphertext and look rows up by; EncryptDeterministic gives equal
// ciphertexts for equal plaintexts in a column. Both use per-tenant keys:
// indexes of different tenants are unrelated.
//
// # Crypto-shredding
//
// ShredSubject and ShredTenant write tombstones, then delete the keys.
// Every ciphertext under them, including copies in backups, then fails
// with ErrKeyDestroyed, and the returned Evidence (key IDs, time) goes to
// the audit log. The tombstones stop a key store restored from an old
// backup from bringing shredded keys back: keep them where such restores
// do not reach. The shredding process stops using the keys at once;
// other processes re-read tombstones of the keys they hold every
// Options.TombstoneCheckInterval (default 1 minute). Blind indexes,
// deterministic ciphertexts and streams use tenant-wide keys, which only
// ShredTenant destroys.
//
// # Failure
//
// If the KMS is unreachable, operations that need it fail with ErrKMS:
// nothing is ever stored in the clear. A warm cache keeps serving the
// keys it holds. Decryption failures are ErrDecrypt, ErrKeyDestroyed or
// ErrKeyRetired, and never reveal key material.
//
// # Metrics
//
// saaskit.crypto.kms.calls, saaskit.crypto.cache.lookups (attribute hit)
// and saaskit.crypto.failures, on Options.MeterProvider.
//
// # In transit
//
// ServerTLS and ClientTLS build tls.Config values with TLS 1.2 or newer
// and modern AEAD suites, mutual TLS against a client CA pool, and
// certificates reloaded from their files without a restart
// (CertReloader).
package crypto
