package backup

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"testing"
	"testing/iotest"

	"github.com/restic/chunker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitRepo is a Repository with what the splitter uses: a config, the
// chunk buffers and the digest key.
func splitRepo(t testing.TB, cfg repoConfig, workers int) *Repository {
	t.Helper()
	if cfg.Polynomial == 0 {
		pol, err := chunker.RandomPolynomial()
		require.NoError(t, err)
		cfg.Polynomial = pol
	}
	if cfg.IDKey == nil {
		cfg.IDKey = make([]byte, 32)
		_, _ = rand.Read(cfg.IDKey)
	}
	cfg.Version, cfg.ID = 1, "0123456789abcdef0123456789abcdef"
	_, err := parseConfig(mustJSON(cfg))
	require.NoError(t, err)
	r := &Repository{cfg: cfg, opts: RepositoryOptions{Workers: workers}}
	r.cacheKeys, err = deriveChunkCacheKeys(cfg.IDKey)
	require.NoError(t, err)
	r.digesters.New = func() any { return newDigester(r.cacheKeys.digest) }
	r.bufs.New = func() any { b := make([]byte, cfg.ChunkMax); return &b }
	r.windows.New = func() any { b := make([]byte, windowSize(cfg)); return &b }
	return r
}

// fullChunking is the chunk list of data, chunked from scratch.
func fullChunking(t testing.TB, r *Repository, data []byte) []cachedChunk {
	t.Helper()
	ch := chunker.NewWithBoundaries(bytes.NewReader(data), r.cfg.Polynomial, uint(r.cfg.ChunkMin), uint(r.cfg.ChunkMax))
	ch.SetAverageBits(r.cfg.AverageBits)
	var out []cachedChunk
	for {
		c, err := ch.Next(nil)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, cachedChunk{length: uint32(len(c.Data)), id: r.chunkID(c.Data), digest: r.chunkDigest(c.Data)})
	}
}

// split runs the splitter over rd with cache, and returns the chunk
// list (ids computed as addStream's workers would) and the bytes the
// cache recognised.
func split(t testing.TB, r *Repository, rd io.Reader, cache *chunkCache, need func(chunkID) bool) ([]cachedChunk, int64) {
	t.Helper()
	sp := newSplitter(r, rd, cache, need)
	defer sp.release()
	var out []cachedChunk
	var cached int64
	for {
		p, err := sp.next()
		if err == io.EOF {
			return out, cached
		}
		require.NoError(t, err)
		if p.data != nil {
			require.Len(t, p.data, p.length)
			id := r.chunkID(p.data)
			if p.cached {
				require.Equal(t, p.id, id, "a cached chunk's bytes are its bytes")
			}
			p.id = id
			if !p.hasDigest {
				p.digest = r.chunkDigest(p.data)
			}
			require.Equal(t, r.chunkDigest(p.data), p.digest)
			r.bufs.Put(p.buf)
		}
		if p.cached {
			cached += int64(p.length)
		}
		out = append(out, cachedChunk{length: uint32(p.length), id: p.id, digest: p.digest})
	}
}

// cacheOf is the chunk cache of a chunk list, through its file format.
func cacheOf(t testing.TB, r *Repository, chunks []cachedChunk) *chunkCache {
	t.Helper()
	c := &chunkCache{snapshot: "20260101T000000Z-0a0b0c0d0e0f", pol: r.cfg.Polynomial, min: r.cfg.ChunkMin, max: r.cfg.ChunkMax,
		bits: r.cfg.AverageBits, chunks: chunks}
	for _, e := range chunks {
		c.size += int64(e.length)
	}
	parsed, err := parseChunkCache(encodeChunkCache(c))
	require.NoError(t, err)
	return parsed
}

// edit is a random change to a stream.
type edit struct {
	name  string
	apply func(rng *mrand.Rand, data []byte) []byte
}

func randomRange(rng *mrand.Rand, n, most int) (int, int) {
	if n == 0 {
		return 0, 0
	}
	at := rng.IntN(n)
	return at, min(n, at+1+rng.IntN(most))
}

func noise(rng *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

var edits = []edit{
	{"overwrite", func(rng *mrand.Rand, d []byte) []byte {
		from, to := randomRange(rng, len(d), 3000)
		copy(d[from:to], noise(rng, to-from))
		return d
	}},
	{"overwrite-byte", func(rng *mrand.Rand, d []byte) []byte {
		if len(d) > 0 {
			d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
		}
		return d
	}},
	{"insert", func(rng *mrand.Rand, d []byte) []byte {
		at := rng.IntN(len(d) + 1)
		return append(d[:at:at], append(noise(rng, 1+rng.IntN(3000)), d[at:]...)...)
	}},
	{"delete", func(rng *mrand.Rand, d []byte) []byte {
		from, to := randomRange(rng, len(d), 3000)
		return append(d[:from:from], d[to:]...)
	}},
	{"truncate", func(rng *mrand.Rand, d []byte) []byte {
		return d[:rng.IntN(len(d)+1)]
	}},
	{"grow", func(rng *mrand.Rand, d []byte) []byte {
		return append(d, noise(rng, 1+rng.IntN(5000))...)
	}},
	{"move", func(rng *mrand.Rand, d []byte) []byte { // a block copied elsewhere, as a page relocated
		from, to := randomRange(rng, len(d), 4000)
		block := bytes.Clone(d[from:to])
		at := rng.IntN(len(d) + 1)
		return append(d[:at:at], append(block, d[at:]...)...)
	}},
	{"none", func(_ *mrand.Rand, d []byte) []byte { return d }},
}

// TestSplitterMatchesFullChunking: for random streams, chunking
// parameters, sources that read in odd sizes and random edits (in-place
// overwrites, insertions, deletions, truncation, growth, moved blocks,
// several at once), the chunk list taken with the chunk cache of the
// old stream is exactly the chunk list of the new stream chunked from
// scratch; and unchanged chunks come from the cache.
func TestSplitterMatchesFullChunking(t *testing.T) {
	params := []struct{ min, max, bits int }{
		{256, 4096, 9},   // about 768 bytes on average
		{64, 1024, 8},    // the smallest allowed
		{512, 512, 10},   // every chunk cut at its maximum
		{1024, 3000, 12}, // many cut at the maximum
	}
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	for pi, p := range params {
		t.Run(fmt.Sprintf("min%d-max%d-bits%d", p.min, p.max, p.bits), func(t *testing.T) {
			r := splitRepo(t, repoConfig{ChunkMin: p.min, ChunkMax: p.max, AverageBits: p.bits}, 1+pi%3)
			r.opts.Workers = 1 + pi%3
			rng := mrand.New(mrand.NewPCG(uint64(pi), 42))
			for round := range rounds {
				old := noise(rng, rng.IntN(200<<10))
				if round%5 == 0 { // low-entropy stretches chunk differently
					for i := range old[:len(old)/2] {
						old[i] = byte(i / 700)
					}
				}
				oldChunks := fullChunking(t, r, old)
				cache := cacheOf(t, r, oldChunks)

				data := bytes.Clone(old)
				var names []string
				for range 1 + rng.IntN(4) {
					e := edits[rng.IntN(len(edits))]
					data = e.apply(rng, data)
					names = append(names, e.name)
				}
				var rd io.Reader = bytes.NewReader(data)
				switch round % 4 {
				case 1:
					rd = iotest.OneByteReader(rd)
				case 2:
					rd = iotest.HalfReader(rd)
				case 3:
					rd = iotest.DataErrReader(rd)
				}
				need := func(chunkID) bool { return round%3 == 0 }
				got, cached := split(t, r, rd, cache, need)
				want := fullChunking(t, r, data)
				require.Equal(t, len(want), len(got), "round %d, edits %v: chunk count", round, names)
				for i := range want {
					require.Equal(t, want[i], got[i], "round %d, edits %v: chunk %d of %d", round, names, i, len(want))
				}
				if bytes.Equal(old, data) {
					assert.Equal(t, int64(len(data)), cached, "round %d: unchanged, all from the cache", round)
				}
			}
		})
	}
}

// TestSplitterReuse: how much of a stream the cache recognises after
// typical changes, and that chunking without a cache recognises
// nothing.
func TestSplitterReuse(t *testing.T) {
	r := splitRepo(t, repoConfig{ChunkMin: 4 << 10, ChunkMax: 64 << 10, AverageBits: 13}, 2)
	rng := mrand.New(mrand.NewPCG(7, 7))
	old := noise(rng, 8<<20)
	cache := cacheOf(t, r, fullChunking(t, r, old))
	never := func(chunkID) bool { return false }

	_, cached := split(t, r, bytes.NewReader(old), nil, never)
	assert.Zero(t, cached)
	_, cached = split(t, r, bytes.NewReader(old), cache, never)
	assert.Equal(t, int64(len(old)), cached)

	// In place, in four places: all but the chunks touched.
	inPlace := bytes.Clone(old)
	for k := range 4 {
		at := (2*k + 1) * len(old) / 8
		copy(inPlace[at:at+20<<10], noise(rng, 20<<10))
	}
	got, cached := split(t, r, bytes.NewReader(inPlace), cache, never)
	assert.Equal(t, fullChunking(t, r, inPlace), got)
	assert.Greater(t, cached, int64(len(old))*95/100)

	// Inserted and deleted bytes shift what follows: found again.
	shifted := append(append(bytes.Clone(old[:1<<20]), noise(rng, 777)...), old[1<<20:5<<20]...)
	shifted = append(shifted, old[5<<20+1234:]...)
	got, cached = split(t, r, bytes.NewReader(shifted), cache, never)
	assert.Equal(t, fullChunking(t, r, shifted), got)
	assert.Greater(t, cached, int64(len(old))*95/100)

	// Grown at the end: all but the old last chunk.
	grown := append(bytes.Clone(old), noise(rng, 100<<10)...)
	got, cached = split(t, r, bytes.NewReader(grown), cache, never)
	assert.Equal(t, fullChunking(t, r, grown), got)
	assert.Greater(t, cached, int64(len(old))-int64(r.cfg.ChunkMax))
}

// TestChunkCacheFile: a cache file opens only under its repository's
// key, for its tenant and source; any change to it, or a file of
// another source or repository, or made with other chunking
// parameters, is no cache.
func TestChunkCacheFile(t *testing.T) {
	cfg := repoConfig{ChunkMin: 256, ChunkMax: 4096, AverageBits: 9}
	r := splitRepo(t, cfg, 1)
	r.cacheDir = t.TempDir()
	data := noise(mrand.New(mrand.NewPCG(1, 1)), 100<<10)
	chunks := fullChunking(t, r, data)
	require.NoError(t, r.saveChunkCache("db", "20260101T000000Z-0a0b0c0d0e0f", chunks))

	c := r.loadChunkCache("db")
	require.NotNil(t, c)
	assert.Equal(t, chunks, c.chunks)
	assert.Equal(t, int64(len(data)), c.size)
	assert.Nil(t, r.loadChunkCache("other"))

	path := r.chunkCachePath("db")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "saaskit chunk cache", "sealed")
	for _, at := range []int{0, 5, len(raw) / 2, len(raw) - 1} {
		bad := bytes.Clone(raw)
		bad[at] ^= 0x04
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		assert.Nil(t, r.loadChunkCache("db"), "byte %d flipped", at)
	}
	require.NoError(t, os.WriteFile(path, raw[:len(raw)-1], 0o600))
	assert.Nil(t, r.loadChunkCache("db"), "truncated")

	// Another source's file in its place.
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	require.NoError(t, os.WriteFile(r.chunkCachePath("other"), raw, 0o600))
	assert.Nil(t, r.loadChunkCache("other"))

	// Another tenant of the same repository.
	tenant := splitRepo(t, r.cfg, 1)
	tenant.cacheDir, tenant.opts.TenantID = r.cacheDir, "globex"
	assert.Nil(t, tenant.loadChunkCache("db"))
	require.NoError(t, os.WriteFile(tenant.chunkCachePath("db"), raw, 0o600))
	assert.Nil(t, tenant.loadChunkCache("db"))

	// Another repository, same cache directory: other names, other keys.
	foreign := splitRepo(t, cfg, 1)
	foreign.cacheDir = r.cacheDir
	assert.NotEqual(t, path, foreign.chunkCachePath("db"))
	assert.Nil(t, foreign.loadChunkCache("db"))
	require.NoError(t, os.WriteFile(foreign.chunkCachePath("db"), raw, 0o600))
	assert.Nil(t, foreign.loadChunkCache("db"))

	// The same key with other chunking parameters.
	other := splitRepo(t, repoConfig{Polynomial: r.cfg.Polynomial, IDKey: r.cfg.IDKey, ChunkMin: 256, ChunkMax: 8192, AverageBits: 9}, 1)
	other.cacheDir = r.cacheDir
	assert.Equal(t, path, other.chunkCachePath("db"))
	assert.Nil(t, other.loadChunkCache("db"))
	assert.NotNil(t, r.loadChunkCache("db"))
}

// FuzzChunkCache feeds the cache file's parser (the plaintext after it
// opened) with anything: it returns an error or a cache whose chunk
// list adds up, within the recorded parameters, and encodes to the same
// bytes; and a sealed file that is not this key's never opens.
//
//	go test -run '^$' -fuzz FuzzChunkCache -fuzztime 1m ./backup/
func FuzzChunkCache(f *testing.F) {
	r := splitRepo(f, repoConfig{Polynomial: 0x3DA3358B4DC173, IDKey: make([]byte, 32), ChunkMin: 64, ChunkMax: 1024, AverageBits: 8}, 1)
	valid := &chunkCache{snapshot: "20260101T000000Z-0a0b", pol: r.cfg.Polynomial, min: 64, max: 1024, bits: 8, size: 1030,
		chunks: []cachedChunk{{length: 1024, id: chunkID{1}, digest: chunkDigest{2}}, {length: 6, id: chunkID{3}, digest: chunkDigest{4}}}}
	enc := encodeChunkCache(valid)
	f.Add(enc)
	f.Add(enc[:len(enc)-1])
	f.Add(enc[:chunkCacheHeader])
	f.Add(r.sealChunkCache("db", enc))
	f.Add([]byte(chunkCacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := parseChunkCache(data); err == nil {
			require.Equal(t, data, encodeChunkCache(c))
			var sum int64
			for i, e := range c.chunks {
				require.Equal(t, sum, c.offsets[i])
				require.LessOrEqual(t, int(e.length), c.max)
				sum += int64(e.length)
			}
			require.Equal(t, c.size, sum)
			require.True(t, validSnapID(c.snapshot))
		}
		if plain, err := r.openChunkCache("db", data); err == nil {
			require.Equal(t, enc, plain, "only the file sealed here opens")
		}
	})
}
