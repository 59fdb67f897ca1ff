package backup

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chunkID names a chunk by a keyed hash (HMAC-SHA256 under the
// repository's secret id key) of its plaintext: equal chunks have equal
// ids, and an id says nothing about the content to someone without the
// key.
type chunkID [32]byte

func (id chunkID) String() string { return hex.EncodeToString(id[:]) }

// short is the id's first 8 bytes, in messages.
func (id chunkID) short() string { return id.String()[:16] }

// MarshalText implements encoding.TextMarshaler.
func (id chunkID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: 64 hex digits.
func (id *chunkID) UnmarshalText(b []byte) error {
	return parseHexID(id[:], b)
}

func parseHexID(dst []byte, b []byte) error {
	if len(b) != 2*len(dst) {
		return fmt.Errorf("id %.70q: want %d hex digits", b, 2*len(dst))
	}
	if _, err := hex.Decode(dst, b); err != nil {
		return fmt.Errorf("id %.70q: %w", b, err)
	}
	return nil
}

// packID names a pack by the SHA-256 of its stored bytes, so a pack is
// written once under a name that proves its content.
type packID [32]byte

func (id packID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler.
func (id packID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: 64 hex digits.
func (id *packID) UnmarshalText(b []byte) error { return parseHexID(id[:], b) }

// Object names of a repository, all under snapRoot.
const (
	snapRoot      = "snapshots/"
	configName    = snapRoot + "config"
	packPrefix    = snapRoot + "packs/"
	indexPrefix   = snapRoot + "index/"
	snapPrefix    = snapRoot + "snaps/"
	lockPrefix    = snapRoot + "locks/"
	maxObjectSize = 256 << 20 // the largest index or snapshot object read
	maxBlobSize   = 1 << 30   // the largest chunk, stored or plain
)

func packName(id packID) string { s := id.String(); return packPrefix + s[:2] + "/" + s }

// packOfName returns the pack id of an object name under packPrefix.
func packOfName(name string) (packID, bool) {
	var id packID
	i := strings.LastIndexByte(name, '/')
	if !strings.HasPrefix(name, packPrefix) || id.UnmarshalText([]byte(name[i+1:])) != nil || packName(id) != name {
		return id, false
	}
	return id, true
}

// Blob formats: the first byte of a chunk's plaintext as encrypted.
const (
	blobRaw  byte = 0
	blobZstd byte = 1
)

// chunkAD binds a stored chunk to its id: a blob moved to stand for
// another chunk does not decrypt.
func chunkAD(id chunkID) []byte { return []byte("saaskit.backup.chunk:" + id.String()) }

// sealChunk compresses (when that saves space) and encrypts a chunk.
func (r *Repository) sealChunk(ctx context.Context, id chunkID, data []byte) ([]byte, error) {
	zp := r.zbufs.Get().(*[]byte)
	defer r.zbufs.Put(zp)
	z := r.zenc.EncodeAll(data, append((*zp)[:0], blobZstd))
	if len(z) >= len(data)+1 {
		z = append(append(z[:0], blobRaw), data...)
	}
	*zp = z
	out := bytes.NewBuffer(make([]byte, 0, len(z)+len(z)/64+256))
	if err := encryptTo(ctx, r.cipher, out, z, chunkAD(id)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// openChunk decrypts, decompresses and re-hashes a stored chunk; any
// difference is ErrCorrupt.
func (r *Repository) openChunk(ctx context.Context, id chunkID, plainLen int64, blob []byte) ([]byte, error) {
	dr, err := r.cipher.DecryptStream(ctx, bytes.NewReader(blob), chunkAD(id))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s does not decrypt: %w", ErrCorrupt, id.short(), err)
	}
	// The plaintext is shorter than the stored chunk.
	z := bytes.NewBuffer(make([]byte, 0, len(blob)))
	if _, err := z.ReadFrom(dr); err != nil {
		return nil, fmt.Errorf("%w: chunk %s does not decrypt: %w", ErrCorrupt, id.short(), err)
	}
	if z.Len() == 0 || int64(z.Len()) > plainLen+1 && z.Bytes()[0] == blobRaw {
		return nil, fmt.Errorf("%w: chunk %s is %d bytes", ErrCorrupt, id.short(), z.Len())
	}
	var data []byte
	switch zb := z.Bytes(); zb[0] {
	case blobRaw:
		data = zb[1:]
	case blobZstd:
		var err error
		if data, err = r.zdec.DecodeAll(zb[1:], make([]byte, 0, plainLen)); err != nil {
			return nil, fmt.Errorf("%w: chunk %s does not decompress: %w", ErrCorrupt, id.short(), err)
		}
	default:
		return nil, fmt.Errorf("%w: chunk %s has unknown format %d", ErrCorrupt, id.short(), zb[0])
	}
	if int64(len(data)) != plainLen {
		return nil, fmt.Errorf("%w: chunk %s is %d bytes, the index says %d", ErrCorrupt, id.short(), len(data), plainLen)
	}
	if r.chunkID(data) != id {
		return nil, fmt.Errorf("%w: chunk %s does not match its id", ErrCorrupt, id.short())
	}
	return data, nil
}

// chunkID is the keyed hash of data.
func (r *Repository) chunkID(data []byte) chunkID {
	h := hmac.New(sha256.New, r.cfg.IDKey)
	h.Write(data)
	var id chunkID
	h.Sum(id[:0])
	return id
}

// indexFile is an index object: for each pack a run wrote, where each
// of its chunks is. Each run writes its own, so runs never contend;
// readers merge them all.
type indexFile struct {
	Version int         `json:"version"`
	Packs   []indexPack `json:"packs"`
}

type indexPack struct {
	ID     packID       `json:"id"`
	Size   int64        `json:"size"`
	Chunks []indexChunk `json:"chunks"`
}

type indexChunk struct {
	ID     chunkID `json:"id"`
	Offset int64   `json:"offset"`
	Length int64   `json:"length"` // stored (encrypted) bytes
	Plain  int64   `json:"plain"`  // plaintext bytes
}

// parseIndex decodes and checks an index object's plaintext.
func parseIndex(data []byte) (*indexFile, error) {
	var f indexFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: index: %w", ErrCorrupt, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%w: index: version %d, want 1", ErrCorrupt, f.Version)
	}
	seen := map[packID]bool{}
	for _, p := range f.Packs {
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: index: pack %s listed twice", ErrCorrupt, p.ID)
		}
		seen[p.ID] = true
		if p.Size <= 0 || len(p.Chunks) == 0 {
			return nil, fmt.Errorf("%w: index: pack %s: empty", ErrCorrupt, p.ID)
		}
		var end int64
		for _, c := range p.Chunks {
			if c.Offset < end || c.Length <= 0 || c.Length > maxBlobSize || c.Plain < 0 || c.Plain > maxBlobSize || c.Offset > p.Size-c.Length {
				return nil, fmt.Errorf("%w: index: pack %s: chunk %s at %d+%d (plain %d) out of place in %d bytes",
					ErrCorrupt, p.ID, c.ID.short(), c.Offset, c.Length, c.Plain, p.Size)
			}
			end = c.Offset + c.Length
		}
	}
	return &f, nil
}

// blobLoc is where a chunk is stored.
type blobLoc struct {
	pack           packID
	offset, length int64
	plain          int64
}

// repoIndex is the merged index of a repository: every chunk's
// locations, and each pack's chunks.
type repoIndex struct {
	chunks map[chunkID][]blobLoc
	packs  map[packID]indexPack
	files  map[string]*indexFile // by object name
}

func newRepoIndex() *repoIndex {
	return &repoIndex{chunks: map[chunkID][]blobLoc{}, packs: map[packID]indexPack{}, files: map[string]*indexFile{}}
}

func (x *repoIndex) add(name string, f *indexFile) {
	x.files[name] = f
	for _, p := range f.Packs {
		if _, ok := x.packs[p.ID]; ok {
			continue // the same pack, written by two runs: same content
		}
		x.packs[p.ID] = p
		for _, c := range p.Chunks {
			x.chunks[c.ID] = append(x.chunks[c.ID], blobLoc{p.ID, c.Offset, c.Length, c.Plain})
		}
	}
}

// packBuilder gathers sealed chunks into a pack.
type packBuilder struct {
	buf    []byte
	chunks []indexChunk
}

func (p *packBuilder) add(id chunkID, blob []byte, plain int, size int) {
	if p.buf == nil {
		p.buf = make([]byte, 0, size)
	}
	p.chunks = append(p.chunks, indexChunk{ID: id, Offset: int64(len(p.buf)), Length: int64(len(blob)), Plain: int64(plain)})
	p.buf = append(p.buf, blob...)
}

// finish names the pack by its content and empties the builder.
func (p *packBuilder) finish() (indexPack, []byte) {
	data := p.buf
	ip := indexPack{ID: sha256.Sum256(data), Size: int64(len(data)), Chunks: p.chunks}
	p.buf, p.chunks = nil, nil
	return ip, data
}

// putAll writes an object to every target; an object already there
// under a content-addressed name is the same object.
func putAll(ctx context.Context, targets []Target, name string, data []byte, existsOK bool) error {
	var errs []error
	for _, t := range targets {
		err := t.Put(ctx, name, bytes.NewReader(data))
		if err != nil && !(existsOK && errors.Is(err, ErrExists)) {
			errs = append(errs, fmt.Errorf("target %s: %s: %w", t.Name(), name, err))
		}
	}
	return errors.Join(errs...)
}
