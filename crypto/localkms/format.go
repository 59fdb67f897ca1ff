package localkms

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	subtleaead "github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"golang.org/x/crypto/argon2"
)

// The file layout is documented in doc.go.
const (
	magic       = "SKLKMS1\n"
	kdfArgon2id = 1
	saltLen     = 16
	checkLen    = sha256.Size
	headerLen   = len(magic) + 1 + 4 + 4 + 1 + saltLen + checkLen // 66
	sumLen      = sha256.Size
	minFileLen  = headerLen + 4 + sumLen // 102, plus the keyset
	maxFileSize = 1 << 20

	labelCheck = "saaskit localkms passphrase check"
	labelKey   = "saaskit localkms keyset key"
	keysetAD   = "saaskit localkms keyset v1\x00"
)

type kdfParams struct {
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

// check reports whether p is usable and within limits. It keeps
// argon2.IDKey from panicking on zero time or threads.
func (p kdfParams) check(limits kdfParams) error {
	switch {
	case p.time < 1 || p.time > limits.time:
		return fmt.Errorf("argon2id time must be 1 to %d, got %d", limits.time, p.time)
	case p.threads < 1 || p.threads > limits.threads:
		return fmt.Errorf("argon2id threads must be 1 to %d, got %d", limits.threads, p.threads)
	case p.memory < 8*uint32(p.threads) || p.memory > limits.memory:
		return fmt.Errorf("argon2id memory must be 8 KiB per thread to %d KiB, got %d KiB", limits.memory, p.memory)
	}
	return nil
}

// keysetFile is a decoded keyset file.
type keysetFile struct {
	kdf    kdfParams
	salt   [saltLen]byte
	check  [checkLen]byte
	kek    []byte // AES-256 key that encrypts the keyset
	handle *keyset.Handle
}

// derive computes the passphrase check and keyset key of passphrase.
func (f *keysetFile) derive(passphrase []byte) (check []byte) {
	k := argon2.IDKey(passphrase, f.salt[:], f.kdf.time, f.kdf.memory, f.kdf.threads, 32)
	defer clear(k)
	check = mac(k, labelCheck)
	f.kek = mac(k, labelKey)
	return check
}

func mac(key []byte, label string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	return h.Sum(nil)
}

func (f *keysetFile) header() []byte {
	b := make([]byte, 0, headerLen)
	b = append(b, magic...)
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, f.kdf.time)
	b = binary.BigEndian.AppendUint32(b, f.kdf.memory)
	b = append(b, f.kdf.threads)
	b = append(b, f.salt[:]...)
	return append(b, f.check[:]...)
}

// newFile returns a keyset file with a fresh salt and one AES-256-GCM key.
func newFile(passphrase []byte, kdf kdfParams) (*keysetFile, error) {
	f := &keysetFile{kdf: kdf}
	if _, err := rand.Read(f.salt[:]); err != nil {
		return nil, err
	}
	copy(f.check[:], f.derive(passphrase))
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	f.handle = h
	return f, nil
}

// encode serialises f, encrypting its keyset under f.kek.
func (f *keysetFile) encode() ([]byte, error) {
	enc, err := subtleaead.NewAESGCM(f.kek)
	if err != nil {
		return nil, err
	}
	hdr := f.header()
	var w ciphertextIO
	if err := f.handle.WriteWithAssociatedData(&w, enc, append([]byte(keysetAD), hdr...)); err != nil {
		return nil, err
	}
	b := make([]byte, 0, minFileLen+len(w.ciphertext))
	b = append(b, hdr...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.ciphertext)))
	b = append(b, w.ciphertext...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// decode parses and decrypts data, strictly. limits bound the KDF cost.
// Errors wrap ErrCorrupt or ErrWrongPassphrase.
func decode(data, passphrase []byte, limits kdfParams) (*keysetFile, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes (1 MiB)", ErrCorrupt, maxFileSize)
	}
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a localkms keyset file (bad magic)", ErrCorrupt)
	}
	if len(data) < minFileLen {
		return nil, fmt.Errorf("%w: truncated: %d bytes, want at least %d", ErrCorrupt, len(data), minFileLen)
	}
	n := binary.BigEndian.Uint32(data[headerLen:])
	if want := uint64(minFileLen) + uint64(n); uint64(len(data)) != want {
		return nil, fmt.Errorf("%w: length: %d bytes, header says %d (truncated or trailing data)", ErrCorrupt, len(data), want)
	}
	body, sum := data[:len(data)-sumLen], data[len(data)-sumLen:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty keyset", ErrCorrupt)
	}
	if data[len(magic)] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown kdf %d", ErrCorrupt, data[len(magic)])
	}
	f := &keysetFile{}
	p := data[len(magic)+1:]
	f.kdf = kdfParams{time: binary.BigEndian.Uint32(p), memory: binary.BigEndian.Uint32(p[4:]), threads: p[8]}
	if err := f.kdf.check(limits); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	copy(f.salt[:], p[9:])
	copy(f.check[:], p[9+saltLen:])

	if subtle.ConstantTimeCompare(f.derive(passphrase), f.check[:]) != 1 {
		return nil, ErrWrongPassphrase
	}
	dec, err := subtleaead.NewAESGCM(f.kek)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r := &ciphertextIO{ciphertext: data[headerLen+4 : headerLen+4+int(n)]}
	h, err := keyset.ReadWithAssociatedData(r, dec, append([]byte(keysetAD), data[:headerLen]...))
	if err != nil {
		return nil, fmt.Errorf("%w: keyset does not decrypt: %w", ErrCorrupt, err)
	}
	if err := checkKeys(h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	f.handle = h
	return f, nil
}

// checkKeys accepts only keysets of AES-256-GCM keys.
func checkKeys(h *keyset.Handle) error {
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return err
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return errors.New("keyset holds a key that is not AES-GCM")
		}
		if p, ok := k.Parameters().(*aesgcm.Parameters); !ok || p.KeySizeInBytes() != 32 {
			return errors.New("keyset holds an AES-GCM key that is not 256-bit")
		}
	}
	return nil
}

// ciphertextIO is a keyset.Reader and keyset.Writer that keeps only the
// encrypted keyset bytes, which the AEAD authenticates, and drops Tink's
// unauthenticated KeysetInfo, so every byte of the file is checked.
type ciphertextIO struct{ ciphertext []byte }

func (c *ciphertextIO) Read() (*tinkpb.Keyset, error) {
	return nil, errors.New("localkms: cleartext keysets are not supported")
}

func (c *ciphertextIO) ReadEncrypted() (*tinkpb.EncryptedKeyset, error) {
	return &tinkpb.EncryptedKeyset{EncryptedKeyset: c.ciphertext}, nil
}

func (c *ciphertextIO) Write(*tinkpb.Keyset) error {
	return errors.New("localkms: cleartext keysets are not supported")
}

func (c *ciphertextIO) WriteEncrypted(ks *tinkpb.EncryptedKeyset) error {
	c.ciphertext = ks.GetEncryptedKeyset()
	return nil
}
