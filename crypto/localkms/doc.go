// Package localkms is the embedded root key for services without a cloud
// KMS: a Tink KMS client ([registry.KMSClient]) whose keys live in a
// local file, protected by a passphrase.
//
// # Quick start
//
//	passphrase := []byte(os.Getenv("SAASKIT_ROOT_PASSPHRASE")) // at least 16 bytes
//	kms, err := localkms.New(passphrase, localkms.Options{Create: true})
//	if err != nil { ... }
//	root, err := kms.GetAEAD(localkms.NewKeyURI("/var/lib/myservice/root.keyset"))
//	if err != nil { ... }
//	st := memstore.New() // or sqlstore
//	keyring, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
//
// # Key URIs
//
// A key URI is "local-kms://" followed by the path of the keyset file,
// absolute ("local-kms:///var/lib/svc/root.keyset") or relative to the
// working directory ("local-kms://root.keyset"). [NewKeyURI] builds one.
//
// # The keyset file
//
// The file holds a Tink keyset of AES-256-GCM keys, encrypted with a key
// derived from the passphrase with Argon2id (RFC 9106) and a random salt
// kept in the file, so the file alone reveals nothing. Its layout, with
// integers big-endian:
//
//	offset  size  field
//	0       8     magic "SKLKMS1\n"
//	8       1     KDF: 1 = Argon2id
//	9       4     Argon2id time (passes)
//	13      4     Argon2id memory in KiB
//	17      1     Argon2id threads
//	18      16    salt
//	34      32    passphrase check: HMAC-SHA256(K, "saaskit localkms passphrase check")
//	66      4     n: length of the encrypted keyset
//	70      n     encrypted keyset: AES-256-GCM ciphertext of the Tink keyset
//	              proto under HMAC-SHA256(K, "saaskit localkms keyset key"),
//	              associated data "saaskit localkms keyset v1\x00" + bytes 0..65
//	70+n    32    SHA-256 of bytes 0..70+n-1
//
// where K = Argon2id(passphrase, salt, time, memory, threads, 32 bytes).
// Parsing is strict: the file must be at most 1 MiB and exactly 102+n
// bytes long, and the KDF parameters must be within the bounds [New]
// accepts. The checksum tells a damaged file ([ErrCorrupt]) from a wrong
// passphrase ([ErrWrongPassphrase]); the AEAD, not the checksum, is what
// stops tampering. The associated data binds the keyset to the header and
// not to the path, so the file may be moved and restored from backups.
//
// # Creating, opening and rotating
//
// [Client.GetAEAD] opens the file, or with [Options.Create] creates it
// when absent: mode 0600, written to a temporary file in the same
// directory, synced, then linked into place, so a reader never sees half a
// file and two processes creating it at once agree on one keyset. It never
// overwrites a file. The directory must exist.
//
// [Client.Rotate] adds a new primary key and keeps the old ones, so data
// wrapped before still decrypts; it rewrites the file atomically (rename).
// AEADs obtained before a rotation keep encrypting with the old key: get a
// new one (restart, or call GetAEAD again) to encrypt with the new key.
// Run Rotate from one process at a time; concurrent rotations from several
// processes could lose one of the new keys.
//
// # Passphrase
//
// The passphrase must be at least 16 bytes; prefer a random one from a
// secret manager or the environment. Argon2id costs time=3, memory=64 MiB
// and threads=4 by default, paid once per GetAEAD or Rotate. The passphrase
// never appears in errors or logs. There is no recovery: lose the
// passphrase or the file and everything under the keyring is lost, so back
// up both, separately.
package localkms
