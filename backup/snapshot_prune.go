package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// PruneReport is what Prune did.
type PruneReport struct {
	Snapshots     int   `json:"snapshots"`      // snapshots whose chunks were kept
	PacksKept     int   `json:"packs_kept"`     // packs holding a chunk some snapshot uses
	PacksDeleted  int   `json:"packs_deleted"`  // pack copies deleted, over all targets
	BytesDeleted  int64 `json:"bytes_deleted"`  // of indexed packs deleted, over all targets
	UnusedInKept  int64 `json:"unused_in_kept"` // bytes of unused chunks left in kept packs (not repacked)
	IndexesMerged int   `json:"indexes_merged"` // index objects replaced by one
}

// Prune deletes the data no snapshot uses: every pack that holds no
// chunk of a snapshot, including packs of failed runs that no index
// lists. Packs partly used are kept whole (they are not repacked);
// UnusedInKept says how many bytes that leaves. The index objects are
// merged into one. Prune takes an exclusive lock: it fails with
// ErrLocked while a snapshot runs, and snapshots fail while it runs. It
// refuses to delete anything when a snapshot or an index cannot be
// read, or a snapshot uses a chunk that no index lists: run
// VerifySnapshots.
func (r *Repository) Prune(ctx context.Context) (PruneReport, error) {
	var rep PruneReport
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
	keep := indexFile{Version: 1}
	for id := range idx.packs {
		p := idx.packs[id]
		inUse := false
		var unused int64
		for _, c := range p.Chunks {
			if used[c.ID] {
				inUse = true
			} else {
				unused += c.Length
			}
		}
		if inUse {
			keep.Packs = append(keep.Packs, p)
			rep.UnusedInKept += unused
		}
	}
	rep.PacksKept = len(keep.Packs)
	kept := map[packID]bool{}
	for _, p := range keep.Packs {
		kept[p.ID] = true
	}
	// The merged index first, then the old ones go, then the packs: a
	// crash at any point leaves every used chunk indexed.
	if len(idx.files) > 1 || len(keep.Packs) < len(idx.packs) {
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
