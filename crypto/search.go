package crypto

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// tenantKeyset is one of a tenant's unwrapped search or streaming
// keysets, with its primitive.
type tenantKeyset struct {
	daead  tink.DeterministicAEAD
	prf    *prf.Set
	stream tink.StreamingAEAD
	loaded int64
	liveness
}

var keysetTemplates = map[Kind]func() *tinkpb.KeyTemplate{
	KindDeterministic: daead.AESSIVKeyTemplate,
	KindIndex:         prf.HMACSHA256PRFKeyTemplate,
	KindStreaming:     streamingaead.AES256GCMHKDF1MBKeyTemplate,
}

// tenantKeysetOf returns the tenant's keyset of that kind, making it on
// first use when create is set (encrypting), and failing with ErrDecrypt
// when it is not (decrypting: nothing was ever sealed with it).
func (k *Keyring) tenantKeysetOf(ctx context.Context, tenant string, kind Kind, create bool) (*tenantKeyset, error) {
	if err := (Scope{Tenant: tenant}).validate(); err != nil {
		return nil, err
	}
	now := k.opts.Now()
	key := keysetKey{tenant, kind}
	id := string(kind)
	k.cacheMu.RLock()
	ks := k.keysets[key]
	k.cacheMu.RUnlock()
	if ks != nil && now.UnixNano()-ks.loaded < int64(k.opts.DataKeyMaxAge) {
		k.metrics.cache(ctx, id, true)
		if err := k.stillAlive(ctx, tenant, id, &ks.liveness, now); err != nil {
			return nil, err
		}
		return ks, nil
	}
	k.metrics.cache(ctx, id, false)
	gen := k.generation(tenant)
	if err := k.checkAlive(ctx, tenant, id); err != nil {
		return nil, err
	}
	rec, err := k.store.Get(ctx, tenant, id)
	switch {
	case errors.Is(err, ErrNotFound) && create:
		rec, err = k.createKeyset(ctx, tenant, kind)
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("%w: tenant %s has no %s keyset", ErrDecrypt, tenant, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s keyset of tenant %s: %w", kind, tenant, err)
	}
	raw, err := k.unwrapRecord(ctx, rec)
	if err != nil {
		return nil, err
	}
	h, err := keysetFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%s keyset of tenant %s: %w", kind, tenant, err)
	}
	ks, err = primitiveOf(kind, h)
	if err != nil {
		return nil, err
	}
	ks.loaded = now.UnixNano()
	ks.checked.Store(now.UnixNano())
	putCached(k, k.keysets, key, ks, tenant, gen)
	return ks, nil
}

func primitiveOf(kind Kind, h *keyset.Handle) (*tenantKeyset, error) {
	var (
		ks  tenantKeyset
		err error
	)
	switch kind {
	case KindDeterministic:
		ks.daead, err = daead.New(h)
	case KindIndex:
		ks.prf, err = prf.NewPRFSet(h)
	case KindStreaming:
		ks.stream, err = streamingaead.New(h)
	}
	if err != nil {
		return nil, fmt.Errorf("%s primitive: %w", kind, err)
	}
	return &ks, nil
}

func (k *Keyring) createKeyset(ctx context.Context, tenant string, kind Kind) (*KeyRecord, error) {
	mu := k.tenantLock(tenant)
	mu.Lock()
	defer mu.Unlock()
	if rec, err := k.store.Get(ctx, tenant, string(kind)); err == nil {
		return rec, nil // made while we waited
	}
	e, err := k.freshKEK(ctx, tenant)
	if err != nil {
		return nil, err
	}
	h, err := keyset.NewHandle(keysetTemplates[kind]())
	if err != nil {
		return nil, err
	}
	raw, err := keysetBytes(h)
	if err != nil {
		return nil, err
	}
	rec := &KeyRecord{TenantID: tenant, ID: string(kind), Kind: kind, CreatedAt: k.opts.Now().UTC()}
	if err := e.wrap(rec, raw); err != nil {
		return nil, err
	}
	if err := k.store.Create(ctx, rec); errors.Is(err, ErrConflict) {
		return k.store.Get(ctx, tenant, string(kind))
	} else if err != nil {
		return nil, err
	}
	return rec, nil
}

// EncryptDeterministic seals plaintext with the tenant's AES-SIV key, so
// equal plaintexts in the same column give equal ciphertexts and the
// column can be searched for equality. It reveals which rows are equal:
// use it only where that is acceptable, and prefer BlindIndex plus
// Encrypt otherwise. column separates the equality domains.
func (k *Keyring) EncryptDeterministic(ctx context.Context, tenant, column string, plaintext []byte) ([]byte, error) {
	ks, err := k.tenantKeysetOf(ctx, tenant, KindDeterministic, true)
	if err != nil {
		return nil, err
	}
	out, err := ks.daead.EncryptDeterministically(plaintext, columnAD(tenant, column))
	if err != nil {
		return nil, fmt.Errorf("encrypt deterministically: %w", err)
	}
	return append([]byte{formatV1, kindDeterministic}, out...), nil
}

// DecryptDeterministic opens what EncryptDeterministic sealed for the
// same tenant and column.
func (k *Keyring) DecryptDeterministic(ctx context.Context, tenant, column string, ciphertext []byte) ([]byte, error) {
	body, err := checkHeader(ciphertext, kindDeterministic)
	if err != nil {
		return nil, err
	}
	ks, err := k.tenantKeysetOf(ctx, tenant, KindDeterministic, false)
	if err != nil {
		return nil, err
	}
	pt, err := ks.daead.DecryptDeterministically(body, columnAD(tenant, column))
	if err != nil {
		return nil, fmt.Errorf("%w: deterministic ciphertext does not authenticate", ErrDecrypt)
	}
	return pt, nil
}

func columnAD(tenant, column string) []byte {
	return boundAD("saaskit.crypto.column", Scope{Tenant: tenant}, []byte(column), nil)
}

// BlindIndexSize is the length of a blind index in bytes.
const BlindIndexSize = 16

// BlindIndex returns a keyed hash (HMAC-SHA256, truncated to 16 bytes)
// of value for the tenant and column: store it beside the Encrypt-ed
// value and look rows up by it, without the database ever seeing the
// value. Normalise value first (trim, lower-case an email) so equal
// values index equally. Different tenants and columns give unrelated
// indexes.
func (k *Keyring) BlindIndex(ctx context.Context, tenant, column string, value []byte) ([]byte, error) {
	ks, err := k.tenantKeysetOf(ctx, tenant, KindIndex, true)
	if err != nil {
		return nil, err
	}
	in := appendPart(make([]byte, 0, 4+len(column)+len(value)), column)
	out, err := ks.prf.ComputePrimaryPRF(append(in, value...), BlindIndexSize)
	if err != nil {
		return nil, fmt.Errorf("blind index: %w", err)
	}
	return out, nil
}

// EncryptStream returns a writer that encrypts everything written to it
// into w with the tenant's streaming key (AES-256-GCM-HKDF, 1 MiB
// segments), for objects too large to hold in memory. Close it to write
// the final segment.
func (k *Keyring) EncryptStream(ctx context.Context, tenant string, w io.Writer, ad []byte) (io.WriteCloser, error) {
	ks, err := k.tenantKeysetOf(ctx, tenant, KindStreaming, true)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte{formatV1, kindStream}); err != nil {
		return nil, fmt.Errorf("encrypt stream: %w", err)
	}
	return ks.stream.NewEncryptingWriter(w, boundAD("saaskit.crypto.stream", Scope{Tenant: tenant}, nil, ad))
}

// DecryptStream returns a reader of the plaintext of a stream made by
// EncryptStream for the same tenant and ad. Reads fail with ErrDecrypt
// at the first segment that does not authenticate.
func (k *Keyring) DecryptStream(ctx context.Context, tenant string, r io.Reader, ad []byte) (io.Reader, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream too short", ErrDecrypt)
		}
		return nil, fmt.Errorf("read stream: %w", err) // the source failed, not the data
	}
	if _, err := checkHeader(head[:], kindStream); err != nil {
		return nil, err
	}
	ks, err := k.tenantKeysetOf(ctx, tenant, KindStreaming, false)
	if err != nil {
		return nil, err
	}
	src := &sourceReader{r: r}
	dr, err := ks.stream.NewDecryptingReader(src, boundAD("saaskit.crypto.stream", Scope{Tenant: tenant}, nil, ad))
	if err != nil {
		if src.err != nil {
			return nil, fmt.Errorf("read stream: %w", src.err)
		}
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return &decryptErrReader{r: dr, src: src}, nil
}

// sourceReader remembers the first error of the encrypted source other
// than EOF, so a failing source is not reported as tampering.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// decryptErrReader marks authentication failures with ErrDecrypt and
// passes the source's own failures through.
type decryptErrReader struct {
	r   io.Reader
	src *sourceReader
}

func (d *decryptErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case d.src.err != nil:
		err = fmt.Errorf("read stream: %w", d.src.err)
	default:
		err = fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return n, err
}
