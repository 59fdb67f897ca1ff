package backup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/saaskit/saaskit/backup/retention"
)

// lockFile is a lock object: snapshots take shared locks, Prune an
// exclusive one. Each writes its own and then looks for the others',
// so of two that start at once at least one sees the other.
type lockFile struct {
	Exclusive bool      `json:"exclusive"`
	Time      time.Time `json:"time"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid"`
}

type repoLock struct {
	r    *Repository
	lf   lockFile
	mu   sync.Mutex
	name string
}

// lock takes a shared or exclusive lock on every target, or returns
// ErrLocked naming the lock in the way. Locks older than StaleLock
// (left by a process that died) do not count.
func (r *Repository) lock(ctx context.Context, exclusive bool) (*repoLock, error) {
	host, _ := os.Hostname()
	l := &repoLock{r: r, lf: lockFile{Exclusive: exclusive, Time: r.opts.Now().UTC(), Host: host, PID: os.Getpid()}}
	l.name = lockPrefix + newID(l.lf.Time)
	if err := r.writeObject(ctx, l.name, l.lf); err != nil {
		l.release()
		return nil, err
	}
	for _, t := range r.targets {
		names, err := t.List(ctx, lockPrefix)
		if err != nil {
			l.release()
			return nil, fmt.Errorf("target %s: %w", t.Name(), err)
		}
		for _, n := range names {
			if n == l.name {
				continue
			}
			var other lockFile
			plain, err := r.readObject(ctx, t, n)
			if errors.Is(err, ErrNotFound) {
				continue // released meanwhile
			}
			if err == nil {
				other, err = decodeJSON[lockFile](plain)
			}
			if err != nil {
				l.release()
				return nil, fmt.Errorf("%w: lock %s on %s is unreadable (remove it if no process holds it): %w", ErrLocked, n, t.Name(), err)
			}
			if l.lf.Time.Sub(other.Time) > r.opts.StaleLock {
				continue
			}
			if exclusive || other.Exclusive {
				l.release()
				kind := "a snapshot"
				if other.Exclusive {
					kind = "a prune"
				}
				return nil, fmt.Errorf("%w: %s holds %s (host %s, pid %d, since %s)", ErrLocked, kind, n, other.Host, other.PID, other.Time.Format(time.RFC3339))
			}
		}
	}
	return l, nil
}

// refresh renews the lock once it is half stale, so a long snapshot's
// lock never looks abandoned.
func (l *repoLock) refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.r.opts.Now().UTC()
	if now.Sub(l.lf.Time) < l.r.opts.StaleLock/2 {
		return nil
	}
	lf := l.lf
	lf.Time = now
	name := lockPrefix + newID(now)
	if err := l.r.writeObject(ctx, name, lf); err != nil {
		return fmt.Errorf("renew lock: %w", err)
	}
	old := l.name
	l.name, l.lf = name, lf
	for _, t := range l.r.targets {
		_ = t.Delete(context.WithoutCancel(ctx), old)
	}
	return nil
}

func (l *repoLock) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.r.targets {
		_ = t.Delete(context.Background(), l.name)
	}
}

// PlanForget applies a retention policy to the snapshots, grouped by
// tenant and source, without deleting anything: the dry run of Forget.
func (r *Repository) PlanForget(ctx context.Context, p retention.Policy, opts retention.Options) (retention.Plan, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return retention.Plan{}, err
	}
	snaps := make([]retention.Snapshot, len(all))
	for i, s := range all {
		snaps[i] = retention.Snapshot{ID: s.ID, Time: s.Started, Tags: s.Tags, Group: s.TenantID + "\x00" + s.Source}
	}
	return retention.Apply(snaps, p, opts)
}

// Forget deletes, on every target, the snapshot objects that the
// policy does not keep, and returns the plan it carried out. Their data
// stays until Prune.
func (r *Repository) Forget(ctx context.Context, p retention.Policy, opts retention.Options) (retention.Plan, error) {
	plan, err := r.PlanForget(ctx, p, opts)
	if err != nil {
		return plan, err
	}
	var errs []error
	for _, s := range plan.Forget() {
		for _, t := range r.targets {
			if err := t.Delete(ctx, snapName(s.ID)); err != nil {
				errs = append(errs, fmt.Errorf("target %s: forget %s: %w", t.Name(), s.ID, err))
			}
		}
	}
	return plan, errors.Join(errs...)
}

// PruneOptions configure Repository.Prune. The zero value prunes as
// restic's prune does by default.
type PruneOptions struct {
	// MaxUnused is the fraction of the kept pack bytes that may be
	// chunks no snapshot uses (restic's --max-unused). Packs partly
	// used, the emptiest first, have their used chunks rewritten into
	// new packs until no more than that is left. Default (zero) 0.05;
	// negative: none (every pack holding an unused chunk is repacked);
	// 1 or more: packs partly used are kept whole.
	MaxUnused float64
	// RepackSmall also rewrites packs smaller than 80% of PackSize
	// (restic's --repack-small), when there are two or more of them or
	// other packs are repacked anyway: each snapshot's last pack is
	// small, and many small packs cost a request each. Default false.
	RepackSmall bool
}

// maxUnused is how many unused bytes may stay beside used bytes.
func (o PruneOptions) maxUnused(used int64) int64 {
	p := o.MaxUnused
	switch {
	case p == 0:
		p = 0.05
	case p < 0:
		return 0
	case p >= 1:
		return math.MaxInt64
	}
	return int64(p / (1 - p) * float64(used))
}

// PruneReport is what Prune did.
type PruneReport struct {
	Snapshots    int   `json:"snapshots"`     // snapshots whose chunks were kept
	PacksKept    int   `json:"packs_kept"`    // packs kept as they were
	PacksDeleted int   `json:"packs_deleted"` // pack copies deleted, over all targets
	BytesDeleted int64 `json:"bytes_deleted"` // of indexed packs deleted, over all targets
	// PacksRepacked counts the packs whose used chunks were rewritten
	// into new packs, and then deleted: RepackedUnused for their unused
	// chunks (MaxUnused), RepackedSmall for their size (RepackSmall).
	PacksRepacked  int `json:"packs_repacked,omitempty"`
	RepackedUnused int `json:"repacked_unused,omitempty"`
	RepackedSmall  int `json:"repacked_small,omitempty"`
	// PacksWritten counts the new packs, and BytesRepacked the stored
	// bytes of the chunks moved into them (written to each target).
	PacksWritten  int   `json:"packs_written,omitempty"`
	BytesRepacked int64 `json:"bytes_repacked,omitempty"`
	// UnusedInKept is the stored bytes of unused chunks left in packs
	// kept: at most MaxUnused of them.
	UnusedInKept  int64 `json:"unused_in_kept"`
	IndexesMerged int   `json:"indexes_merged"` // index objects replaced by one
}

// Prune deletes the data no snapshot uses, as restic's prune does:
// every pack that holds no chunk of a snapshot (including packs of
// failed runs that no index lists) is deleted, and packs partly used
// beyond opts.MaxUnused, or small ones with opts.RepackSmall, have
// their used chunks copied into new packs and are deleted. The index
// objects are merged into one.
//
// Nothing is deleted before what replaces it is stored on every
// target: the new packs first, then the merged index, then the old
// indexes go, and the old packs last. A prune that stops at any step
// leaves a repository that verifies and restores every snapshot (at
// worst with new packs no index lists, or chunks indexed twice), and
// the next prune finishes the work. A chunk is copied as it is stored,
// after it was authenticated and re-hashed: a damaged chunk stops the
// prune before anything is deleted.
//
// Prune takes an exclusive lock: it fails with ErrLocked while a
// snapshot runs, and snapshots fail while it runs. It refuses to delete
// anything when a snapshot or an index cannot be read, or a snapshot
// uses a chunk that no index lists: run VerifySnapshots.
func (r *Repository) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	if math.IsNaN(opts.MaxUnused) {
		return rep, fmt.Errorf("%w: PruneOptions.MaxUnused: NaN", ErrInvalid)
	}
	lock, err := r.lock(ctx, true)
	if err != nil {
		return rep, err
	}
	defer lock.release()
	snaps, err := r.loadSnapshots(ctx, true)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	idx, err := r.loadIndex(ctx, true)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	everywhere, err := r.packsEverywhere(ctx)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	rep.Snapshots = len(snaps)
	used := map[chunkID]bool{}
	for _, s := range snaps {
		for _, id := range s.chunkIDs() {
			if used[id] {
				continue
			}
			if len(idx.chunks[id]) == 0 {
				return rep, fmt.Errorf("%w: prune: snapshot %s uses chunk %s, which no index lists", ErrCorrupt, s.ID, id.short())
			}
			used[id] = true
		}
	}
	plan := planPrune(idx, used, everywhere, opts, r.opts.PackSize)
	rep.PacksKept, rep.UnusedInKept = len(plan.keep), plan.unusedKept
	rep.PacksRepacked, rep.RepackedUnused, rep.RepackedSmall = len(plan.repack), plan.forUnused, len(plan.repack)-plan.forUnused
	written, err := r.repack(ctx, lock, idx, plan, &rep)
	if err != nil {
		return rep, fmt.Errorf("prune: repack: %w", err)
	}
	keep := indexFile{Version: 1, Packs: append(slices.Clone(plan.keep), written...)}
	kept := map[packID]bool{}
	for _, p := range keep.Packs {
		kept[p.ID] = true
	}
	// The merged index first, then the old ones go, then the packs: a
	// crash at any point leaves every used chunk indexed.
	if len(idx.files) > 1 || len(plan.keep) < len(idx.packs) || len(written) > 0 {
		name := indexPrefix + newID(r.opts.Now())
		if len(keep.Packs) > 0 {
			sortPacks(keep.Packs)
			if err := r.writeObject(ctx, name, keep); err != nil {
				return rep, fmt.Errorf("prune: %w", err)
			}
			r.mu.Lock()
			r.indexes[name] = &keep
			r.mu.Unlock()
		}
		for old := range idx.files {
			for _, t := range r.targets {
				if err := t.Delete(ctx, old); err != nil {
					return rep, fmt.Errorf("prune: target %s: %w", t.Name(), err)
				}
			}
			r.mu.Lock()
			delete(r.indexes, old)
			r.mu.Unlock()
			rep.IndexesMerged++
		}
	}
	var errs []error
	for _, t := range r.targets {
		on, err := packsOn(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for id := range on {
			if kept[id] {
				continue
			}
			if err := t.Delete(ctx, packName(id)); err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
				continue
			}
			rep.PacksDeleted++
			if p, ok := idx.packs[id]; ok {
				rep.BytesDeleted += p.Size
			}
		}
	}
	return rep, errors.Join(errs...)
}

// packsEverywhere lists the packs every target holds.
func (r *Repository) packsEverywhere(ctx context.Context) (map[packID]bool, error) {
	var all map[packID]bool
	for _, t := range r.targets {
		on, err := packsOn(ctx, t)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = on
			continue
		}
		for id := range all {
			if !on[id] {
				delete(all, id)
			}
		}
	}
	return all, nil
}

// prunePlan is what Prune keeps, and what it repacks.
type prunePlan struct {
	keep   []indexPack // kept as they are
	repack []indexPack // used chunks copied out, then deleted
	// forUnused counts the packs of repack repacked for their unused
	// chunks; the rest are small.
	forUnused int
	// home is the pack each used chunk is kept in, or copied from.
	home       map[chunkID]packID
	unusedKept int64
}

// planPrune decides, for each indexed pack, whether it is kept,
// repacked or deleted. A chunk stored in several packs (by snapshots
// that ran at once, by a prune that stopped after writing its index,
// or again after a pack was lost on a target) has one home: a pack
// every target holds, the one with the most of its bytes used, so the
// others may go. A chunk with no copy on every target keeps all its
// packs: the repository is damaged, and what is left is not deleted.
func planPrune(idx *repoIndex, used map[chunkID]bool, everywhere map[packID]bool, opts PruneOptions, packSize int) prunePlan {
	live := map[packID]int64{} // stored bytes of used chunks, twice stored or not
	for id, p := range idx.packs {
		for _, c := range p.Chunks {
			if used[c.ID] {
				live[id] += c.Length
			}
		}
	}
	better := func(a, b blobLoc) bool {
		if everywhere[a.pack] != everywhere[b.pack] {
			return everywhere[a.pack]
		}
		fa, fb := float64(live[a.pack])/float64(idx.packs[a.pack].Size), float64(live[b.pack])/float64(idx.packs[b.pack].Size)
		if fa != fb {
			return fa > fb
		}
		return bytes.Compare(a.pack[:], b.pack[:]) < 0
	}
	plan := prunePlan{home: make(map[chunkID]packID, len(used))}
	owned := map[packID]int64{} // stored bytes of the chunks a pack is home to
	pinned := map[packID]bool{}
	for id := range used {
		locs := idx.chunks[id]
		best := locs[0]
		for _, l := range locs[1:] {
			if better(l, best) {
				best = l
			}
		}
		plan.home[id] = best.pack
		owned[best.pack] += best.length
		if !everywhere[best.pack] {
			for _, l := range locs {
				pinned[l.pack] = true
			}
		}
	}
	var candidates []indexPack
	var usedBytes, unused int64
	for _, id := range slices.SortedFunc(maps.Keys(idx.packs), comparePacks) {
		p := idx.packs[id]
		if owned[id] == 0 && !pinned[id] {
			continue // deleted
		}
		usedBytes += owned[id]
		unused += p.Size - owned[id]
		if !pinned[id] && p.Size > owned[id] {
			candidates = append(candidates, p)
		}
	}
	slices.SortStableFunc(candidates, func(a, b indexPack) int {
		// The emptiest first: the most space for the least copying.
		return cmp.Compare(float64(b.Size-owned[b.ID])/float64(b.Size), float64(a.Size-owned[a.ID])/float64(a.Size))
	})
	repack := map[packID]bool{}
	limit := opts.maxUnused(usedBytes)
	for _, p := range candidates {
		if unused <= limit {
			break
		}
		repack[p.ID] = true
		plan.repack = append(plan.repack, p)
		unused -= p.Size - owned[p.ID]
	}
	plan.forUnused = len(plan.repack)
	if opts.RepackSmall {
		var small []indexPack
		for _, id := range slices.SortedFunc(maps.Keys(idx.packs), comparePacks) {
			p := idx.packs[id]
			if owned[id] > 0 && !pinned[id] && !repack[id] && p.Size < int64(packSize)*8/10 {
				small = append(small, p)
			}
		}
		if len(small) >= 2 || len(small) == 1 && len(plan.repack) > 0 {
			for _, p := range small {
				repack[p.ID] = true
				unused -= p.Size - owned[p.ID]
			}
			plan.repack = append(plan.repack, small...)
		}
	}
	// A chunk of a pack repacked that a kept pack holds too stays there
	// rather than be copied: a copy would be a new duplicate, which the
	// next prune would then resolve.
	kept := func(id packID) bool { return (owned[id] > 0 || pinned[id]) && !repack[id] }
	for id, home := range plan.home {
		if !repack[home] {
			continue
		}
		var best *blobLoc
		for _, l := range idx.chunks[id] {
			if kept(l.pack) && everywhere[l.pack] && (best == nil || better(l, *best)) {
				best = &l
			}
		}
		if best != nil {
			plan.home[id] = best.pack
			unused -= best.length
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(idx.packs), comparePacks) {
		if kept(id) {
			plan.keep = append(plan.keep, idx.packs[id])
		}
	}
	plan.unusedKept = unused
	return plan
}

// repack copies the used chunks of the packs plan repacks, as they are
// stored once authenticated and re-hashed, into new packs written to
// every target, and returns those packs.
func (r *Repository) repack(ctx context.Context, lock *repoLock, idx *repoIndex, plan prunePlan, rep *PruneReport) ([]indexPack, error) {
	if len(plan.repack) == 0 {
		return nil, nil
	}
	cr := r.packReader(ctx, idx)
	defer cr.close()
	var pb packBuilder
	var out []indexPack
	flush := func() error {
		ip, data := pb.finish()
		if err := putAll(ctx, r.targets, packName(ip.ID), data, true); err != nil {
			return err
		}
		out = append(out, ip)
		rep.PacksWritten++
		return lock.refresh(ctx)
	}
	done := map[chunkID]bool{}
	for _, p := range plan.repack {
		for _, c := range p.Chunks {
			if plan.home[c.ID] != p.ID || done[c.ID] {
				continue
			}
			done[c.ID] = true
			// This pack's copy first (read in order), then any other.
			locs := slices.Clone(idx.chunks[c.ID])
			slices.SortStableFunc(locs, func(a, b blobLoc) int {
				return cmp.Compare(b2i(b.pack == p.ID && b.offset == c.Offset), b2i(a.pack == p.ID && a.offset == c.Offset))
			})
			_, blob, at, err := cr.readBlob(ctx, c.ID, locs)
			if err != nil {
				return out, err
			}
			pb.add(c.ID, blob, int(at.plain), r.opts.PackSize+r.cfg.ChunkMax+64<<10)
			rep.BytesRepacked += int64(len(blob))
			if len(pb.buf) >= r.opts.PackSize {
				if err := flush(); err != nil {
					return out, err
				}
			}
		}
	}
	if len(pb.chunks) > 0 {
		if err := flush(); err != nil {
			return out, err
		}
	}
	return out, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chunkIDs lists every chunk a snapshot uses.
func (s *snapshotFile) chunkIDs() []chunkID {
	if s.Kind == "stream" {
		return s.Stream
	}
	var out []chunkID
	for _, e := range s.Tree {
		out = append(out, e.Chunks...)
	}
	return out
}

func sortPacks(ps []indexPack) {
	slices.SortFunc(ps, func(a, b indexPack) int { return bytes.Compare(a.ID[:], b.ID[:]) })
}

// decodeJSON decodes an object's plaintext.
func decodeJSON[T any](data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return v, nil
}
