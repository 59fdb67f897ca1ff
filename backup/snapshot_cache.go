package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/restic/chunker"
	"github.com/zeebo/blake3"
)

// The chunk cache: for each stream source, a local file describing the
// chunks of its last snapshot (length, chunk id, and a keyed BLAKE3
// digest of the plaintext), so that the next snapshot recognises
// unchanged chunks by hashing their bytes once with BLAKE3, without
// content-defined chunking, HMAC, compression or upload. See
// splitter for how a stream is split with it.
//
// The file is sealed with AES-256-GCM under a key derived from the
// repository's secret id key, bound to the repository, tenant and
// source: it reveals nothing (not even chunk sizes) to someone without
// the key, and a file edited, truncated, or copied from another source
// or repository fails to open and is ignored. The digests are keyed
// too, with another derived key. A cache that is missing, fails to
// open, or was made with other chunking parameters is simply not used:
// the stream is then chunked in full, as without a cache.

// chunkDigest is the keyed BLAKE3 digest of a chunk's plaintext.
type chunkDigest [32]byte

// cachedChunk is one chunk of a cached chunk list.
type cachedChunk struct {
	length uint32
	id     chunkID
	digest chunkDigest
}

// chunkCache is the chunk list of a stream's last snapshot.
type chunkCache struct {
	snapshot string // the snapshot it describes
	pol      chunker.Pol
	min, max int
	bits     int
	size     int64
	chunks   []cachedChunk
	offsets  []int64             // each chunk's start in the stream
	byDigest map[chunkDigest]int // a chunk's index by its digest (the first)
}

const (
	chunkCacheMagic   = "saaskit chunk cache 1\n"
	chunkCacheHeader  = len(chunkCacheMagic) + 8 + 4 + 4 + 1 + 1 // then the snapshot id, size, count
	chunkCacheEntry   = 4 + 32 + 32
	chunkCacheExt     = ".chunks"
	chunkCacheMaxAge  = 30 * 24 * time.Hour // unused files older than this are removed
	chunkCacheKeyInfo = "saaskit.backup.chunk-cache.v1 "
)

// encodeChunkCache is the plaintext of a cache file.
func encodeChunkCache(c *chunkCache) []byte {
	b := make([]byte, 0, chunkCacheHeader+len(c.snapshot)+12+len(c.chunks)*chunkCacheEntry)
	b = append(b, chunkCacheMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.pol))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.min))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.max))
	b = append(b, byte(c.bits), byte(len(c.snapshot)))
	b = append(b, c.snapshot...)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.size))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.chunks)))
	for _, e := range c.chunks {
		b = binary.LittleEndian.AppendUint32(b, e.length)
		b = append(b, e.id[:]...)
		b = append(b, e.digest[:]...)
	}
	return b
}

// parseChunkCache decodes and checks a cache file's plaintext: the
// lengths must be those content-defined chunking with the recorded
// parameters can give (at most max; at least min but for the last) and
// add up to the size.
func parseChunkCache(b []byte) (*chunkCache, error) {
	bad := func(format string, args ...any) (*chunkCache, error) {
		return nil, fmt.Errorf("%w: chunk cache: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < chunkCacheHeader || string(b[:len(chunkCacheMagic)]) != chunkCacheMagic {
		return bad("not a chunk cache")
	}
	b = b[len(chunkCacheMagic):]
	c := &chunkCache{pol: chunker.Pol(binary.LittleEndian.Uint64(b)),
		min: int(binary.LittleEndian.Uint32(b[8:])), max: int(binary.LittleEndian.Uint32(b[12:])), bits: int(b[16])}
	n := int(b[17])
	b = b[18:]
	if len(b) < n+12 {
		return bad("truncated")
	}
	c.snapshot = string(b[:n])
	c.size = int64(binary.LittleEndian.Uint64(b[n:]))
	count := binary.LittleEndian.Uint32(b[n+8:])
	b = b[n+12:]
	switch {
	case !validSnapID(c.snapshot):
		return bad("snapshot id %.80q", c.snapshot)
	case c.min < 64 || c.max < c.min || c.max > 64<<20 || c.bits < 8 || c.bits > 28:
		return bad("chunk sizes %d..%d, average bits %d", c.min, c.max, c.bits)
	case uint64(len(b)) != uint64(count)*chunkCacheEntry:
		return bad("%d bytes for %d chunks", len(b), count)
	case c.size < 0:
		return bad("size %d", c.size)
	}
	c.chunks = make([]cachedChunk, count)
	c.offsets = make([]int64, count)
	var off int64
	for i := range c.chunks {
		e := &c.chunks[i]
		e.length = binary.LittleEndian.Uint32(b)
		copy(e.id[:], b[4:36])
		copy(e.digest[:], b[36:68])
		b = b[chunkCacheEntry:]
		if e.length == 0 || int(e.length) > c.max || int(e.length) < c.min && i < len(c.chunks)-1 {
			return bad("chunk %d of %d bytes", i, e.length)
		}
		c.offsets[i] = off
		off += int64(e.length)
	}
	if off != c.size {
		return bad("chunks add up to %d bytes, not %d", off, c.size)
	}
	c.index()
	return c, nil
}

// index builds the lookup by digest.
func (c *chunkCache) index() {
	c.byDigest = make(map[chunkDigest]int, len(c.chunks))
	for i, e := range c.chunks {
		if _, ok := c.byDigest[e.digest]; !ok {
			c.byDigest[e.digest] = i
		}
	}
}

// startingAt is the index of the cached chunk that starts at offset
// off, or -1.
func (c *chunkCache) startingAt(off int64) int {
	if i, ok := slices.BinarySearch(c.offsets, off); ok {
		return i
	}
	return -1
}

// chunkCacheKeys are the keys of a repository's chunk caches, derived
// from its id key: the digest key, the file key, and the key that
// names files.
type chunkCacheKeys struct {
	digest, seal, name []byte
}

func deriveChunkCacheKeys(idKey []byte) (chunkCacheKeys, error) {
	var k chunkCacheKeys
	var err error
	for _, d := range []struct {
		dst     *[]byte
		purpose string
	}{{&k.digest, "digest"}, {&k.seal, "file"}, {&k.name, "name"}} {
		if *d.dst, err = hkdf.Key(sha256.New, idKey, nil, chunkCacheKeyInfo+d.purpose, 32); err != nil {
			return k, err
		}
	}
	return k, nil
}

// newDigester is a keyed BLAKE3 hasher under the digest key.
func newDigester(key []byte) *blake3.Hasher {
	h, err := blake3.NewKeyed(key)
	if err != nil {
		panic(err) // the key is derived with 32 bytes
	}
	return h
}

// chunkDigest is the keyed BLAKE3 digest of data.
func (r *Repository) chunkDigest(data []byte) chunkDigest {
	h := r.digesters.Get().(*blake3.Hasher)
	h.Reset()
	_, _ = h.Write(data)
	var d chunkDigest
	h.Sum(d[:0])
	r.digesters.Put(h)
	return d
}

// chunkCacheAD binds a cache file to its repository, tenant and source.
func (r *Repository) chunkCacheAD(source string) []byte {
	return []byte(chunkCacheKeyInfo + "\x00" + r.cfg.ID + "\x00" + r.opts.TenantID + "\x00" + source)
}

// chunkCachePath is where the cache of source is kept, or "" when
// there is no cache. The name is a keyed hash: it says nothing of the
// source to someone without the key.
func (r *Repository) chunkCachePath(source string) string {
	if r.cacheDir == "" {
		return ""
	}
	m := hmac.New(sha256.New, r.cacheKeys.name)
	m.Write(r.chunkCacheAD(source))
	return filepath.Join(r.cacheDir, hex.EncodeToString(m.Sum(nil)[:20])+chunkCacheExt)
}

func (r *Repository) sealChunkCache(source string, plain []byte) []byte {
	gcm := r.cacheAEAD()
	out := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	_, _ = rand.Read(out)
	return gcm.Seal(out, out, plain, r.chunkCacheAD(source))
}

func (r *Repository) openChunkCache(source string, raw []byte) ([]byte, error) {
	gcm := r.cacheAEAD()
	if len(raw) < gcm.NonceSize()+gcm.Overhead() {
		return nil, fmt.Errorf("%w: chunk cache: %d bytes", ErrCorrupt, len(raw))
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], r.chunkCacheAD(source))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk cache: %w", ErrCorrupt, err)
	}
	return plain, nil
}

func (r *Repository) cacheAEAD() cipher.AEAD {
	block, err := aes.NewCipher(r.cacheKeys.seal)
	if err != nil {
		panic(err) // a 32-byte key
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

// loadChunkCache reads the chunk cache of source, or returns nil when
// there is none that fits: no cache directory, no file, a file that
// does not open under this repository's key for this source, or one
// made with other chunking parameters.
func (r *Repository) loadChunkCache(source string) *chunkCache {
	path := r.chunkCachePath(source)
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxObjectSize+1))
	if err != nil || len(raw) > maxObjectSize {
		return nil
	}
	plain, err := r.openChunkCache(source, raw)
	if err != nil {
		return nil
	}
	c, err := parseChunkCache(plain)
	if err != nil || c.pol != r.cfg.Polynomial || c.min != r.cfg.ChunkMin || c.max != r.cfg.ChunkMax || c.bits != r.cfg.AverageBits {
		return nil
	}
	return c
}

// saveChunkCache replaces the chunk cache of source with the chunk list
// of snapshot id, and removes cache files unused for a month. The cache
// is an optimisation: failing to write it fails nothing.
func (r *Repository) saveChunkCache(source, id string, chunks []cachedChunk) error {
	path := r.chunkCachePath(source)
	if path == "" {
		return nil
	}
	c := &chunkCache{snapshot: id, pol: r.cfg.Polynomial, min: r.cfg.ChunkMin, max: r.cfg.ChunkMax, bits: r.cfg.AverageBits, chunks: chunks}
	for _, e := range chunks {
		c.size += int64(e.length)
	}
	data := r.sealChunkCache(source, encodeChunkCache(c))
	if err := os.MkdirAll(r.cacheDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.cacheDir, ".tmp-*"+chunkCacheExt)
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, bytes.NewReader(data))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	r.sweepChunkCaches()
	return nil
}

// sweepChunkCaches removes cache files (of any repository) not written
// for chunkCacheMaxAge: their sources are gone, or their repositories.
func (r *Repository) sweepChunkCaches() {
	entries, err := os.ReadDir(r.cacheDir)
	if err != nil {
		return
	}
	old := time.Now().Add(-chunkCacheMaxAge) // file times are the system's
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), chunkCacheExt) {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(old) {
			_ = os.Remove(filepath.Join(r.cacheDir, e.Name()))
		}
	}
}

// defaultCacheDir is the chunk caches' directory when the options name
// none: under the user's cache directory, or none when there is no
// such directory.
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil || dir == "" {
		return ""
	}
	return filepath.Join(dir, "saaskit", "backup")
}
