package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// A manifest is stored as its JSON object with one more member, "seal":
// "v1:" and the base64 of the SHA-256 of the manifest's canonical form,
// encrypted by the backup's Cipher with the associated data
// manifestAD(id). The canonical form is the stored object without
// "seal", its members sorted by name and compacted (json.Marshal of
// the members as raw values), so every member, known to this version or
// not, is authenticated. Opening the seal needs the key the backup was
// made with, and finds it among the keyring's older keys after a
// rotation, as its data does.
const (
	sealMember = "seal"
	sealV1     = "v1:"
	// maxManifestSize bounds what is read of a manifest object.
	maxManifestSize = 1 << 20
)

func manifestAD(id string) []byte { return []byte("saaskit.backup.manifest\x00" + id) }

// canonicalDigest is the SHA-256 of the canonical form of a manifest
// object's members other than the seal.
func canonicalDigest(members map[string]json.RawMessage) ([]byte, error) {
	rest := make(map[string]json.RawMessage, len(members))
	for k, v := range members {
		if k != sealMember {
			rest[k] = v
		}
	}
	canonical, err := json.Marshal(rest)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canonical)
	return sum[:], nil
}

// sealManifest returns the object stored for m: its JSON and its seal.
func (b *Backups) sealManifest(ctx context.Context, m *Manifest) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(plain, &members); err != nil {
		return nil, err
	}
	digest, err := canonicalDigest(members)
	if err != nil {
		return nil, err
	}
	var sealed bytes.Buffer
	if err := encryptTo(ctx, b.cipher, &sealed, digest, manifestAD(m.ID)); err != nil {
		return nil, err
	}
	return json.MarshalIndent(struct {
		*Manifest
		Seal string `json:"seal"`
	}{m, sealV1 + base64.StdEncoding.EncodeToString(sealed.Bytes())}, "", "  ")
}

// writeManifest writes m, sealed, to every target.
func (b *Backups) writeManifest(ctx context.Context, m *Manifest) error {
	data, err := b.sealManifest(ctx, m)
	if err != nil {
		return fmt.Errorf("backup %s: manifest: %w", m.ID, err)
	}
	var errs []error
	for _, t := range b.targets {
		if err := t.Put(ctx, manifestName(m.ID), bytes.NewReader(data)); err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("backup %s: manifest: %w", m.ID, errors.Join(errs...))
	}
	return nil
}

// readManifest reads backup id's manifest on t and authenticates it:
// ErrNotFound when t has none, ErrCorrupt when it does not
// authenticate or is refused unsealed, ErrWrongKey when its seal does
// not open under the Backups' key.
func (b *Backups) readManifest(ctx context.Context, t Target, id string) (*Manifest, error) {
	m, err := b.getManifest(ctx, t, id)
	if err != nil {
		return nil, fmt.Errorf("backup %s: manifest on %s: %w", id, t.Name(), err)
	}
	return m, nil
}

func (b *Backups) getManifest(ctx context.Context, t Target, id string) (*Manifest, error) {
	rc, err := t.Get(ctx, manifestName(id))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1)) // not getObject's 256 MiB
	if err != nil {
		return nil, err
	}
	return b.openManifest(ctx, t, id, raw)
}

// openManifest parses and authenticates the stored manifest of backup
// id on t.
func (b *Backups) openManifest(ctx context.Context, t Target, id string, raw []byte) (*Manifest, error) {
	if len(raw) > maxManifestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxManifestSize)
	}
	var members map[string]json.RawMessage
	var m Manifest
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%w: it names backup %q", ErrCorrupt, m.ID)
	}
	seal, sealed := members[sealMember]
	if !sealed {
		if started, ok := idTime(id); ok && started.Before(b.opts.UnsealedBefore) {
			return &m, nil // from before manifests were sealed, accepted as configured
		}
		return nil, fmt.Errorf("%w: it has no seal: a manifest written before manifests were sealed (Options.UnsealedBefore accepts those), or one whose seal was removed", ErrCorrupt)
	}
	var text string
	if err := json.Unmarshal(seal, &text); err != nil || !strings.HasPrefix(text, sealV1) {
		return nil, fmt.Errorf("%w: its seal is not a version 1 seal", ErrCorrupt)
	}
	ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(text, sealV1))
	if err != nil {
		return nil, fmt.Errorf("%w: its seal: %w", ErrCorrupt, err)
	}
	want, err := b.openSeal(ctx, &m, ct)
	if err != nil {
		if b.dataOpens(ctx, t, id) {
			return nil, fmt.Errorf("%w: its seal does not open, while the key opens the backup's data: the seal was altered", ErrCorrupt)
		}
		return nil, wrongKey(b.cipher, &m, err)
	}
	got, err := canonicalDigest(members)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return nil, fmt.Errorf("%w: it does not authenticate: edited since it was written", ErrCorrupt)
	}
	return &m, nil
}

// openSeal decrypts a manifest's seal.
func (b *Backups) openSeal(ctx context.Context, m *Manifest, ct []byte) ([]byte, error) {
	r, err := b.cipher.DecryptStream(ctx, bytes.NewReader(ct), manifestAD(m.ID))
	var digest []byte
	if err == nil {
		digest, err = io.ReadAll(io.LimitReader(r, sha256.Size+1))
	}
	if err == nil && len(digest) != sha256.Size {
		err = fmt.Errorf("a digest of %d bytes", len(digest))
	}
	return digest, err
}

// dataOpens reports whether the key opens the first segment of backup
// id's data on t: whether a seal that did not open was altered (the key
// is right) rather than made under another key.
func (b *Backups) dataOpens(ctx context.Context, t Target, id string) bool {
	rc, err := t.Get(ctx, dataName(id))
	if err != nil {
		return false
	}
	defer rc.Close()
	r, err := b.cipher.DecryptStream(ctx, rc, []byte(id))
	if err != nil {
		return false
	}
	_, err = io.ReadFull(r, make([]byte, 1))
	return err == nil
}

// wrongKey is the error of a backup that the key in hand does not open.
func wrongKey(c Cipher, m *Manifest, err error) error {
	if m.KeyID != c.KeyID() {
		return fmt.Errorf("%w: the backup was made under key %s, not %s: %w", ErrWrongKey, m.KeyID, c.KeyID(), err)
	}
	return fmt.Errorf("%w: key %s opens neither the manifest's seal nor the data: it is not the one the backup was made with (another keyring with a key of that name?): %w", ErrWrongKey, c.KeyID(), err)
}

// idTime is when the backup named id started, as its ID says.
func idTime(id string) (time.Time, bool) {
	stamp, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", stamp)
	return t, err == nil
}
