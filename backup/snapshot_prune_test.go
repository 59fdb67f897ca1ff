package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/internal/testclock"
)

// crashPoint stands for a process that dies at its n-th write or
// delete on any of its targets: that call and every one after it fail,
// as if the process had stopped there.
type crashPoint struct {
	mu    sync.Mutex
	calls int
	at    int // 0: never
}

var errCrashed = errors.New("process crashed")

func (c *crashPoint) step() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.at > 0 && c.calls >= c.at {
		return errCrashed
	}
	return nil
}

// arm makes call n from now the one that crashes (0: none).
func (c *crashPoint) arm(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.at = 0, n
}

func (c *crashPoint) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at > 0 && c.calls >= c.at
}

type crashTarget struct {
	backup.Target
	p *crashPoint
}

func (c crashTarget) Put(ctx context.Context, name string, r io.Reader) error {
	if err := c.p.step(); err != nil {
		return err
	}
	return c.Target.Put(ctx, name, r)
}

func (c crashTarget) Delete(ctx context.Context, name string) error {
	if err := c.p.step(); err != nil {
		return err
	}
	return c.Target.Delete(ctx, name)
}

// pruneScene is a repository whose forgotten snapshots leave packs
// partly used and small packs: five versions of a database, each with
// a few regions rewritten, of which the last two are kept, and small
// snapshots of a log.
type pruneScene struct {
	r      *backup.Repository
	cipher backup.Cipher
	opts   backup.RepositoryOptions
	clock  *testclock.Clock
	crash  *crashPoint
	mems   []*backup.MemoryTarget
	want   map[string][]byte // what each snapshot kept restores to
}

func newPruneScene(t *testing.T) *pruneScene {
	t.Helper()
	ctx := context.Background()
	keys, _ := newKeyring(t)
	s := &pruneScene{cipher: backup.KeyringCipher(keys, "acme"), clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		mems: []*backup.MemoryTarget{backup.NewMemoryTarget("a"), backup.NewMemoryTarget("b")}, want: map[string][]byte{},
		opts: backup.RepositoryOptions{ChunkMin: 4 << 10, ChunkMax: 32 << 10, ChunkAverageBits: 13, PackSize: 64 << 10, CacheDir: t.TempDir()}}
	s.open(t)
	rng := rand.New(rand.NewPCG(7, 8))
	data := randomBytes(40, 384<<10)
	ids := map[string][]byte{}
	for v := range 5 {
		for range 3 {
			off := rng.IntN(len(data) - 16<<10)
			copy(data[off:], randomBytes(rng.Uint64(), 4<<10+rng.IntN(12<<10)))
		}
		info, err := s.r.Snapshot(ctx, namedSource("db", data))
		require.NoError(t, err)
		ids[info.ID] = append([]byte(nil), data...)
		log := []byte(fmt.Sprintf("log %d\n", v))
		info, err = s.r.Snapshot(ctx, namedSource("log", log))
		require.NoError(t, err)
		ids[info.ID] = log
		s.clock.Advance(time.Hour)
	}
	plan, err := s.r.Forget(ctx, retention.Policy{Last: 2}, retention.Options{})
	require.NoError(t, err)
	require.Len(t, plan.Forget(), 6)
	for _, d := range plan.Keep() {
		s.want[d.ID] = ids[d.ID]
	}
	return s
}

// open opens the repository on the scene's targets, each behind the
// crash point.
func (s *pruneScene) open(t *testing.T) {
	t.Helper()
	s.crash = &crashPoint{}
	opts := s.opts
	opts.Now = s.clock.Now
	var err error
	s.r, err = backup.OpenRepository(context.Background(), s.cipher, []backup.Target{crashTarget{s.mems[0], s.crash}, crashTarget{s.mems[1], s.crash}}, opts)
	require.NoError(t, err)
}

// clone is a copy of the scene, on copies of its targets.
func (s *pruneScene) clone(t *testing.T) *pruneScene {
	t.Helper()
	ctx := context.Background()
	c := *s
	c.clock = testclock.New(s.clock.Now())
	c.mems = nil
	for _, m := range s.mems {
		cp := backup.NewMemoryTarget(m.Name())
		for _, n := range mustList(t, m, "") {
			rc, err := m.Get(ctx, n)
			require.NoError(t, err)
			require.NoError(t, cp.Put(ctx, n, rc))
		}
		c.mems = append(c.mems, cp)
	}
	c.open(t)
	return &c
}

// check verifies the repository, reading every pack, and restores
// every kept snapshot byte for byte.
func (s *pruneScene) check(t *testing.T) *backup.SnapshotCheck {
	t.Helper()
	c, err := s.r.VerifySnapshots(context.Background(), 1)
	require.NoError(t, err)
	for id, want := range s.want {
		require.True(t, restoresTo(t, s.r, id, want), "snapshot %s", id)
	}
	return c
}

// TestPruneRepack: pruning repacks the packs partly used beyond
// MaxUnused (by default 5% of the kept bytes), and with RepackSmall the
// small ones; MaxUnused 1 keeps them whole; afterwards every snapshot
// restores, and a second prune has nothing to do.
func TestPruneRepack(t *testing.T) {
	ctx := context.Background()

	t.Run("unlimited keeps partly used packs", func(t *testing.T) {
		s := newPruneScene(t)
		rep, err := s.r.Prune(ctx, backup.PruneOptions{MaxUnused: 1})
		require.NoError(t, err)
		assert.Zero(t, rep.PacksRepacked)
		assert.Zero(t, rep.PacksWritten)
		assert.Positive(t, rep.UnusedInKept)
		s.check(t)
	})

	t.Run("default", func(t *testing.T) {
		s := newPruneScene(t)
		before := len(mustList(t, s.mems[0], "snapshots/packs/"))
		rep, err := s.r.Prune(ctx, backup.PruneOptions{})
		require.NoError(t, err)
		assert.Positive(t, rep.PacksRepacked)
		assert.Equal(t, rep.PacksRepacked, rep.RepackedUnused)
		assert.Positive(t, rep.PacksWritten)
		assert.Positive(t, rep.BytesRepacked)
		after := mustList(t, s.mems[0], "snapshots/packs/")
		assert.Len(t, after, rep.PacksKept+rep.PacksWritten)
		assert.Less(t, len(after), before)
		assert.Equal(t, after, mustList(t, s.mems[1], "snapshots/packs/"))
		c := s.check(t)
		assert.Empty(t, c.Unreferenced)
		var stored int64
		for _, p := range after {
			rc, err := s.mems[0].Get(ctx, p)
			require.NoError(t, err)
			n, _ := io.Copy(io.Discard, rc)
			stored += n
		}
		assert.LessOrEqual(t, float64(rep.UnusedInKept), 0.05*float64(stored)+1, "at most 5%% of what is kept is unused")

		again, err := s.r.Prune(ctx, backup.PruneOptions{})
		require.NoError(t, err)
		assert.Zero(t, again.PacksRepacked)
		assert.Zero(t, again.PacksDeleted)
		assert.Zero(t, again.IndexesMerged)
	})

	t.Run("none unused and small packs", func(t *testing.T) {
		s := newPruneScene(t)
		rep, err := s.r.Prune(ctx, backup.PruneOptions{MaxUnused: -1, RepackSmall: true})
		require.NoError(t, err)
		assert.Zero(t, rep.UnusedInKept)
		assert.Positive(t, rep.RepackedSmall, "each snapshot's last pack is small")
		packs := mustList(t, s.mems[0], "snapshots/packs/")
		small := 0
		for _, p := range packs {
			rc, err := s.mems[0].Get(ctx, p)
			require.NoError(t, err)
			if n, _ := io.Copy(io.Discard, rc); n < 64<<10*8/10 {
				small++
			}
		}
		assert.LessOrEqual(t, small, 1, "small packs merged, but the last")
		s.check(t)
		again, err := s.r.Prune(ctx, backup.PruneOptions{MaxUnused: -1, RepackSmall: true})
		require.NoError(t, err)
		assert.Zero(t, again.PacksRepacked, "one small pack alone is not rewritten")
	})

	t.Run("invalid", func(t *testing.T) {
		r := newRepo(t, backup.RepositoryOptions{}, backup.NewMemoryTarget("m"))
		_, err := r.Prune(ctx, backup.PruneOptions{MaxUnused: math.NaN()})
		assert.ErrorIs(t, err, backup.ErrInvalid)
	})
}

// TestPruneCrash stops a repacking prune at each of its writes and
// deletes in turn, as a crash would: each time the repository verifies
// (every pack read) and restores every snapshot byte for byte, and the
// next prune finishes the work, after which it verifies and restores
// again and has nothing left to do.
func TestPruneCrash(t *testing.T) {
	ctx := context.Background()
	opts := backup.PruneOptions{RepackSmall: true}
	scene := newPruneScene(t)
	for at := 1; ; at++ {
		s := scene.clone(t)
		s.crash.arm(at)
		rep, err := s.r.Prune(ctx, opts)
		if !s.crash.crashed() {
			// The prune made fewer calls than at: every step was crashed
			// at once.
			require.NoError(t, err)
			require.Positive(t, rep.PacksRepacked)
			require.Greater(t, at, rep.PacksWritten+2, "crashed between every step")
			t.Logf("a prune of %d calls crashed at each", at-1)
			return
		}
		if err != nil { // else it crashed as it released its lock
			require.ErrorIs(t, err, errCrashed, "call %d", at)
		}
		s.crash.arm(0)
		s.clock.Advance(2 * time.Hour) // the dead process's lock is stale
		s.check(t)

		rep, err = s.r.Prune(ctx, opts)
		require.NoError(t, err, "call %d", at)
		c := s.check(t)
		assert.Empty(t, c.Unreferenced, "call %d", at)
		assert.Len(t, mustList(t, s.mems[0], "snapshots/index/"), 1, "call %d", at)
		again, err := s.r.Prune(ctx, opts)
		require.NoError(t, err)
		assert.Zero(t, again.PacksRepacked, "call %d: %+v then %+v", at, rep, again)
		assert.Zero(t, again.PacksDeleted, "call %d", at)
		if at > 200 {
			t.Fatal("the prune never finished")
		}
	}
}

// TestPruneDuplicates: a pack lost on one target has its chunks stored
// again by the next snapshot; prune then keeps the copy every target
// holds and deletes the other, and the repository verifies.
func TestPruneDuplicates(t *testing.T) {
	ctx := context.Background()
	s := newPruneScene(t)
	packs := mustList(t, s.mems[1], "snapshots/packs/")
	require.NoError(t, s.mems[1].Delete(ctx, packs[0]))
	_, err := s.r.VerifySnapshots(ctx, 0)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	for _, data := range maps.Clone(s.want) {
		info, err := s.r.Snapshot(ctx, namedSource("again", data))
		require.NoError(t, err)
		s.want[info.ID] = data
	}
	_, err = s.r.Prune(ctx, backup.PruneOptions{MaxUnused: 1})
	require.NoError(t, err)
	assert.NotContains(t, mustList(t, s.mems[0], "snapshots/packs/"), packs[0])
	s.check(t)
}

// TestVerifyPartialIndex: an index that a target lacks is a problem
// when no other index on that target lists the chunks it lists.
func TestVerifyPartialIndex(t *testing.T) {
	ctx := context.Background()
	a, b := backup.NewMemoryTarget("a"), backup.NewMemoryTarget("b")
	r := newRepo(t, backup.RepositoryOptions{}, a, b)
	_, err := r.Snapshot(ctx, namedSource("db", randomBytes(41, 1<<20)))
	require.NoError(t, err)
	indexes := mustList(t, b, "snapshots/index/")
	require.Len(t, indexes, 1)
	require.NoError(t, b.Delete(ctx, indexes[0]))
	_, err = r.VerifySnapshots(ctx, 0)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	assert.ErrorContains(t, err, indexes[0]+": on 1 of 2 targets, and no other index on b lists chunk")
}
