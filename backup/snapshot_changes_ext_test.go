package backup_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
)

// changing is a ChangeSource over bytes in memory that records where
// each version changed; lie drops the records.
type changing struct {
	name  string
	mu    sync.Mutex
	data  []byte
	edits [][]backup.ByteRange // edits[v]: what version v+1 changed
	lie   bool
}

func (c *changing) Name() string { return c.name }
func (c *changing) Open(context.Context) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return io.NopCloser(bytes.NewReader(bytes.Clone(c.data))), nil
}

// overwrite changes n bytes at off.
func (c *changing) overwrite(rng *rand.Rand, off, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := off; i < off+n; i++ {
		c.data[i] = byte(rng.Uint32())
	}
	c.edits = append(c.edits, []backup.ByteRange{{Off: int64(off), Len: int64(n)}})
}

func (c *changing) OpenChanges(_ context.Context, since string) (backup.ChangedStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := changedStream{Reader: bytes.NewReader(bytes.Clone(c.data)), mark: strconv.Itoa(len(c.edits))}
	if v, err := strconv.Atoi(since); err == nil && v <= len(c.edits) {
		cs.ok = true
		if !c.lie {
			for _, e := range c.edits[v:] {
				cs.changes = append(cs.changes, e...)
			}
		}
	}
	return cs, nil
}

type changedStream struct {
	*bytes.Reader
	mark    string
	changes []backup.ByteRange
	ok      bool
}

func (c changedStream) Close() error                        { return nil }
func (c changedStream) Mark() string                        { return c.mark }
func (c changedStream) Changes() ([]backup.ByteRange, bool) { return c.changes, c.ok }

// TestSnapshotChangeSource: snapshots of a source that says where it
// changed read around the changes only, store the chunks chunking the
// whole stream gives (a plain snapshot of the same bytes stores
// nothing new), and restore byte for byte; every FullReadEvery
// snapshots one reads it all, which corrects a change list that lied.
func TestSnapshotChangeSource(t *testing.T) {
	ctx := context.Background()
	mem := backup.NewMemoryTarget("mem")
	r := newRepo(t, backup.RepositoryOptions{PackSize: 1 << 20, FullReadEvery: 3}, mem)
	rng := rand.New(rand.NewPCG(3, 4))
	src := &changing{name: "db", data: randomBytes(50, 16<<20)}

	first, err := r.Snapshot(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, int64(len(src.data)), first.ReadBytes, "no parent: read all")
	assert.Zero(t, first.Trusted)
	for i := range 3 {
		for range 3 {
			src.overwrite(rng, rng.IntN(len(src.data)-8192), 1+rng.IntN(8192))
		}
		info, err := r.Snapshot(ctx, src)
		require.NoError(t, err)
		assert.Equal(t, i+1, info.Trusted)
		assert.Less(t, info.ReadBytes, int64(len(src.data))/2, "read around the changes only")
		assert.Greater(t, info.CachedBytes, int64(len(src.data))/2)
		require.True(t, restoresTo(t, r, info.ID, src.data))
		plain, err := r.Snapshot(ctx, namedSource("plain"+strconv.Itoa(i), src.data))
		require.NoError(t, err)
		assert.Zero(t, plain.NewChunks, "the same chunks as chunking it all")
		assert.Equal(t, info.Chunks, plain.Chunks)
	}
	// Trust ran out: the next reads it all.
	src.overwrite(rng, 100, 10)
	info, err := r.Snapshot(ctx, src)
	require.NoError(t, err)
	assert.Zero(t, info.Trusted)
	assert.Equal(t, int64(len(src.data)), info.ReadBytes)
	require.True(t, restoresTo(t, r, info.ID, src.data))

	// A source whose change list lies: the snapshot after the trust
	// runs out is right whatever the others were.
	src.lie = true
	for range 4 { // a spot check may catch the lie sooner
		src.overwrite(rng, rng.IntN(len(src.data)-100), 100)
		info, err = r.Snapshot(ctx, src)
		require.NoError(t, err)
		if info.Trusted == 0 {
			break
		}
	}
	assert.Zero(t, info.Trusted, "the fourth at the latest reads all")
	require.True(t, restoresTo(t, r, info.ID, src.data))
	_, err = r.VerifySnapshots(ctx, 1)
	require.NoError(t, err)
}
