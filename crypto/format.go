package crypto

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Ciphertexts are self-describing, so rotation needs no side metadata:
//
//	byte 0     format version (1)
//	byte 1     kind: 1 envelope AEAD, 2 deterministic, 3 stream
//	envelope:  bytes 2..17 DEK ID, then AES-256-GCM: 12-byte nonce,
//	           ciphertext, 16-byte tag
//	otherwise: the Tink primitive's output, which names its key
//
// The associated data given to the primitive binds the format, the
// tenant, the subject and the header to the caller's associated data, so a
// ciphertext moved to another tenant's or subject's row, or a header
// edited to point at another key, fails to decrypt.
const (
	formatV1 = 1

	kindEnvelope      = 1
	kindDeterministic = 2
	kindStream        = 3

	dekIDLen       = 16
	envelopeHeader = 2 + dekIDLen
	gcmOverhead    = 12 + 16
)

type dekID [dekIDLen]byte

func (id dekID) String() string { return hex.EncodeToString(id[:]) }

func parseDEKID(s string) (dekID, error) {
	var id dekID
	if len(s) != 2*dekIDLen {
		return id, fmt.Errorf("%w: dek id %q", ErrInvalid, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: dek id %q", ErrInvalid, s)
	}
	return id, nil
}

// parseEnvelope splits an envelope ciphertext into its DEK ID, header and
// sealed payload.
func parseEnvelope(ct []byte) (id dekID, header, sealed []byte, err error) {
	if len(ct) < envelopeHeader+gcmOverhead {
		return id, nil, nil, fmt.Errorf("%w: ciphertext too short (%d bytes)", ErrDecrypt, len(ct))
	}
	if ct[0] != formatV1 {
		return id, nil, nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, ct[0])
	}
	if ct[1] != kindEnvelope {
		return id, nil, nil, fmt.Errorf("%w: not an envelope ciphertext (kind %d)", ErrDecrypt, ct[1])
	}
	copy(id[:], ct[2:envelopeHeader])
	return id, ct[:envelopeHeader], ct[envelopeHeader:], nil
}

// checkHeader validates the two leading bytes of a non-envelope
// ciphertext and returns the rest.
func checkHeader(ct []byte, kind byte) ([]byte, error) {
	if len(ct) < 2 || ct[0] != formatV1 || ct[1] != kind {
		return nil, fmt.Errorf("%w: not a version 1 ciphertext of kind %d", ErrDecrypt, kind)
	}
	return ct[2:], nil
}

// boundAD returns the associated data that binds a purpose, a scope and
// a header to the caller's ad: each part is length-prefixed, so no two
// different inputs give the same bytes.
func boundAD(purpose string, s Scope, header, ad []byte) []byte {
	b := make([]byte, 0, 16+len(purpose)+len(s.Tenant)+len(s.Subject)+len(header)+len(ad))
	b = appendPart(b, purpose)
	b = appendPart(b, s.Tenant)
	b = appendPart(b, s.Subject)
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	return append(b, ad...)
}

func appendPart(b []byte, part string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
	return append(b, part...)
}
