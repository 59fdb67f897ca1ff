package backup

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memChanges is a ChangedStream over bytes in memory.
type memChanges struct {
	*bytes.Reader
	mark    string
	changes []ByteRange
	ok      bool
}

func (m memChanges) Close() error                 { return nil }
func (m memChanges) Mark() string                 { return m.mark }
func (m memChanges) Changes() ([]ByteRange, bool) { return m.changes, m.ok }

// splitChanged runs a changeSplitter over data, the parent being old
// (chunked as oldChunks), with the change list changes; it returns the
// chunk list, the bytes taken from the parent and the bytes read.
func splitChanged(t testing.TB, r *Repository, data []byte, oldChunks []cachedChunk, changes []ByteRange, need func(chunkID) bool) ([]cachedChunk, int64, int64, error) {
	t.Helper()
	ids := make([]chunkID, len(oldChunks))
	offs, lens := make([]int64, len(oldChunks)), make([]int64, len(oldChunks))
	digests := make([]chunkDigest, len(oldChunks))
	var off int64
	for i, c := range oldChunks {
		ids[i], offs[i], lens[i], digests[i] = c.id, off, int64(c.length), c.digest
		off += int64(c.length)
	}
	sp := newChangeSplitter(r, memChanges{Reader: bytes.NewReader(data)}, ids, offs, lens, digests, changes, need)
	var out []cachedChunk
	var reused int64
	for {
		p, err := sp.next()
		if err == io.EOF {
			return out, reused, sp.read, nil
		}
		if err != nil {
			return out, reused, sp.read, err
		}
		if p.data != nil {
			id := r.chunkID(p.data)
			if p.cached {
				require.Equal(t, p.id, id)
			}
			p.id, p.digest = id, r.chunkDigest(p.data)
			r.bufs.Put(p.buf)
		}
		if p.cached {
			reused += int64(p.length)
		}
		out = append(out, cachedChunk{length: uint32(p.length), id: p.id, digest: p.digest})
	}
}

// inPlace are the edits a change list can describe: in place, or at
// the end; each returns the stream and the range it changed.
var inPlace = []struct {
	name  string
	apply func(rng *mrand.Rand, d []byte) ([]byte, ByteRange)
}{
	{"overwrite", func(rng *mrand.Rand, d []byte) ([]byte, ByteRange) {
		from, to := randomRange(rng, len(d), 3000)
		copy(d[from:to], noise(rng, to-from))
		return d, ByteRange{int64(from), int64(to - from)}
	}},
	{"overwrite-byte", func(rng *mrand.Rand, d []byte) ([]byte, ByteRange) {
		if len(d) == 0 {
			return d, ByteRange{}
		}
		at := rng.IntN(len(d))
		d[at] ^= byte(1 + rng.IntN(255))
		return d, ByteRange{int64(at), 1}
	}},
	{"page-copy", func(rng *mrand.Rand, d []byte) ([]byte, ByteRange) { // a page rewritten with another's content
		from, to := randomRange(rng, len(d), 4096)
		at := rng.IntN(len(d) - (to - from) + 1)
		copy(d[at:], bytes.Clone(d[from:to]))
		return d, ByteRange{int64(at), int64(to - from)}
	}},
	{"truncate", func(rng *mrand.Rand, d []byte) ([]byte, ByteRange) {
		return d[:rng.IntN(len(d)+1)], ByteRange{}
	}},
	{"grow", func(rng *mrand.Rand, d []byte) ([]byte, ByteRange) {
		n := len(d)
		return append(d, noise(rng, 1+rng.IntN(5000))...), ByteRange{int64(n), 1 << 20}
	}},
	{"none", func(_ *mrand.Rand, d []byte) ([]byte, ByteRange) { return d, ByteRange{} }},
}

// TestChangeSplitterMatchesFullChunking: for random streams, chunking
// parameters and random in-place edits (and growth or truncation), the
// chunk list taken by change list (the edited ranges, padded, with
// ranges that did not change besides) is exactly the chunk list of the
// new stream chunked from scratch.
func TestChangeSplitterMatchesFullChunking(t *testing.T) {
	params := []struct{ min, max, bits int }{
		{256, 4096, 9},
		{64, 1024, 8},
		{512, 512, 10},
		{1024, 3000, 12},
	}
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	for pi, p := range params {
		t.Run(fmt.Sprintf("min%d-max%d-bits%d", p.min, p.max, p.bits), func(t *testing.T) {
			r := splitRepo(t, repoConfig{ChunkMin: p.min, ChunkMax: p.max, AverageBits: p.bits}, 1)
			rng := mrand.New(mrand.NewPCG(uint64(pi), 43))
			for round := range rounds {
				old := noise(rng, 1+rng.IntN(200<<10))
				if round%5 == 0 {
					for i := range old[:len(old)/2] {
						old[i] = byte(i / 700)
					}
				}
				oldChunks := fullChunking(t, r, old)
				data := bytes.Clone(old)
				var names []string
				var changes []ByteRange
				for range 1 + rng.IntN(4) {
					e := inPlace[rng.IntN(len(inPlace))]
					var c ByteRange
					data, c = e.apply(rng, data)
					names = append(names, e.name)
					if c.Len > 0 {
						if round%2 == 0 { // padded
							pad := int64(rng.IntN(100))
							c.Off -= pad
							c.Len += pad + int64(rng.IntN(200))
						}
						changes = append(changes, c)
					}
				}
				if round%3 == 0 { // a range that did not change
					from, to := randomRange(rng, len(data), 2000)
					changes = append(changes, ByteRange{int64(from), int64(to - from)})
				}
				need := func(chunkID) bool { return round%4 == 0 }
				got, _, _, err := splitChanged(t, r, data, oldChunks, changes, need)
				require.NoError(t, err, "round %d, edits %v", round, names)
				want := fullChunking(t, r, data)
				require.Equal(t, len(want), len(got), "round %d, edits %v: chunk count", round, names)
				for i := range want {
					require.Equal(t, want[i].length, got[i].length, "round %d, edits %v: chunk %d of %d", round, names, i, len(want))
					require.Equal(t, want[i].id, got[i].id, "round %d, edits %v: chunk %d of %d", round, names, i, len(want))
				}
			}
		})
	}
}

// TestChangeSplitterWrongList: a change the list misses, in a chunk the
// splitter reads (to store it, or to spot-check it), is found.
func TestChangeSplitterWrongList(t *testing.T) {
	r := splitRepo(t, repoConfig{ChunkMin: 256, ChunkMax: 4096, AverageBits: 9}, 1)
	rng := mrand.New(mrand.NewPCG(5, 6))
	old := noise(rng, 100<<10)
	oldChunks := fullChunking(t, r, old)
	data := bytes.Clone(old)
	data[len(data)/2] ^= 1
	_, _, _, err := splitChanged(t, r, data, oldChunks, nil, func(chunkID) bool { return true })
	assert.ErrorIs(t, err, errWrongChanges)
	// Told, it is right.
	got, reused, _, err := splitChanged(t, r, data, oldChunks, []ByteRange{{int64(len(data) / 2), 1}}, func(chunkID) bool { return false })
	require.NoError(t, err)
	assert.Equal(t, fullChunking(t, r, data), got)
	assert.Greater(t, reused, int64(len(data))*8/10)
}
