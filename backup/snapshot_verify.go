package backup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// SnapshotCheck is what VerifySnapshots found.
type SnapshotCheck struct {
	Snapshots  int   `json:"snapshots"`   // snapshot objects read
	Indexes    int   `json:"indexes"`     // index objects read
	Packs      int   `json:"packs"`       // packs indexed
	PacksRead  int   `json:"packs_read"`  // pack copies read, over all targets
	ChunksRead int   `json:"chunks_read"` // chunks decrypted and re-hashed
	BytesRead  int64 `json:"bytes_read"`
	// Unreferenced lists packs that no index lists ("target: pack"):
	// left by a failed snapshot, or written by one still running. Prune
	// deletes them. They are not problems.
	Unreferenced []string `json:"unreferenced,omitempty"`
	// Problems lists each damage found, naming the object and target.
	Problems []string `json:"problems,omitempty"`
}

// VerifySnapshots checks the repository on every target, as restic's
// check does: the config, that every snapshot and index decrypts and
// parses, that every chunk a snapshot uses is indexed and adds up to
// the sizes recorded, and that every indexed pack is on every target.
// It then reads a random subset (0 to 1: the fraction of packs; 1 reads
// all, restic's --read-data-subset) of the packs from every target,
// checking each pack's hash against its name and decrypting,
// decompressing and re-hashing every chunk in it. It returns an error
// wrapping ErrCorrupt, listing the problems, when any was found.
func (r *Repository) VerifySnapshots(ctx context.Context, subset float64) (*SnapshotCheck, error) {
	if math.IsNaN(subset) || subset < 0 || subset > 1 {
		return nil, fmt.Errorf("%w: subset %v: want a fraction from 0 to 1", ErrInvalid, subset)
	}
	return r.verifySnapshots(ctx, func(packs []packID) []packID {
		rand.Shuffle(len(packs), func(i, j int) { packs[i], packs[j] = packs[j], packs[i] })
		return packs[:int(math.Ceil(subset*float64(len(packs))))]
	})
}

// VerifySnapshotPart is VerifySnapshots reading part n of m of the
// packs (restic's --read-data-subset n/m): the packs whose ID, as a
// number, leaves n-1 divided by m. The parts are fixed by the pack IDs,
// so verifying parts 1 to m, one a night say, reads every pack once.
func (r *Repository) VerifySnapshotPart(ctx context.Context, n, m int) (*SnapshotCheck, error) {
	if m < 1 || n < 1 || n > m {
		return nil, fmt.Errorf("%w: part %d of %d: want 1 <= n <= m", ErrInvalid, n, m)
	}
	return r.verifySnapshots(ctx, func(packs []packID) []packID {
		var part []packID
		for _, id := range packs {
			if packPart(id, m) == n-1 {
				part = append(part, id)
			}
		}
		return part
	})
}

// packPart is which of m parts a pack falls in: its ID's first eight
// bytes, as a number, modulo m. IDs are hashes, so parts are even.
func packPart(id packID, m int) int {
	return int(binary.BigEndian.Uint64(id[:8]) % uint64(m))
}

// verifySnapshots checks the repository and reads the packs pick
// chooses of all the indexed ones.
func (r *Repository) verifySnapshots(ctx context.Context, pick func([]packID) []packID) (*SnapshotCheck, error) {
	c := &SnapshotCheck{}
	problem := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }

	for _, t := range r.targets {
		raw, err := getObject(ctx, t, configName)
		if err == nil {
			var cfg repoConfig
			if cfg, err = r.decodeConfig(ctx, t, raw); err == nil && cfg.ID != r.cfg.ID {
				err = fmt.Errorf("another repository's (%s)", cfg.ID)
			}
		}
		if err != nil {
			problem("target %s: %s: %v", t.Name(), configName, err)
		}
	}

	// Snapshots and indexes: every copy on every target.
	snaps := map[string]*snapshotFile{}
	idx := newRepoIndex()
	// partial: the indexes some target lacks; indexOn: where each is.
	partial, indexOn := map[string][]Target{}, map[string][]Target{}
	for _, kind := range []string{snapPrefix, indexPrefix} {
		byName := map[string][]Target{}
		for _, t := range r.targets {
			names, err := t.List(ctx, kind)
			if err != nil {
				problem("target %s: list %s: %v", t.Name(), kind, err)
				continue
			}
			for _, n := range names {
				byName[n] = append(byName[n], t)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(byName)) {
			if len(byName[n]) < len(r.targets) {
				if kind == indexPrefix {
					partial[n] = byName[n]
				} else {
					problem("%s: on %d of %d targets", n, len(byName[n]), len(r.targets))
				}
			}
			if kind == indexPrefix {
				indexOn[n] = byName[n]
			}
			for _, t := range byName[n] {
				if kind == snapPrefix {
					s, err := r.readSnapshot(ctx, t, strings.TrimPrefix(n, snapPrefix))
					if err != nil {
						problem("target %s: %s: %v", t.Name(), n, err)
					} else if snaps[s.ID] == nil {
						snaps[s.ID] = s
					}
					continue
				}
				plain, err := r.readObject(ctx, t, n)
				var f *indexFile
				if err == nil {
					f, err = parseIndex(plain)
				}
				if err != nil {
					problem("target %s: %s: %v", t.Name(), n, err)
				} else if idx.files[n] == nil {
					idx.add(n, f)
				}
			}
		}
	}
	c.Snapshots, c.Indexes, c.Packs = len(snaps), len(idx.files), len(idx.packs)

	// References.
	for _, id := range slices.Sorted(maps.Keys(snaps)) {
		s := snaps[id]
		check := func(what string, ids []chunkID, size int64) {
			var sum int64
			for _, cid := range ids {
				locs := idx.chunks[cid]
				if len(locs) == 0 {
					problem("snapshot %s: %schunk %s is in no index", id, what, cid.short())
					return
				}
				sum += locs[0].plain
			}
			if sum != size {
				problem("snapshot %s: %schunks add up to %d bytes, %d recorded", id, what, sum, size)
			}
		}
		if s.Kind == "stream" {
			check("", s.Stream, s.Size)
		}
		for _, e := range s.Tree {
			check(e.Path+": ", e.Chunks, e.Size)
		}
	}

	c.Problems = append(c.Problems, r.checkPartialIndexes(snaps, idx, partial, indexOn)...)

	// Packs: every indexed pack on every target.
	on := make([]map[packID]bool, len(r.targets))
	for i, t := range r.targets {
		var err error
		if on[i], err = packsOn(ctx, t); err != nil {
			problem("%v", err)
			on[i] = map[packID]bool{}
			continue
		}
		for _, id := range slices.SortedFunc(maps.Keys(on[i]), comparePacks) {
			if _, ok := idx.packs[id]; !ok {
				c.Unreferenced = append(c.Unreferenced, t.Name()+": "+packName(id))
			}
		}
	}
	packs := slices.SortedFunc(maps.Keys(idx.packs), comparePacks)
	for _, id := range packs {
		for i, t := range r.targets {
			if !on[i][id] {
				problem("pack %s: missing on target %s", packName(id), t.Name())
			}
		}
	}

	// Data: the packs pick chooses, read from every target.
	for _, id := range pick(slices.Clone(packs)) {
		for i, t := range r.targets {
			if !on[i][id] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return c, err
			}
			for _, p := range r.checkPack(ctx, t, idx.packs[id], c) {
				problem("pack %s on %s: %s", packName(id), t.Name(), p)
			}
		}
	}
	if len(c.Problems) == 0 {
		return c, nil
	}
	shown := c.Problems[:min(len(c.Problems), 20)]
	more := ""
	if len(c.Problems) > len(shown) {
		more = fmt.Sprintf("\n... and %d more", len(c.Problems)-len(shown))
	}
	return c, fmt.Errorf("%w: %d problems in the snapshot repository:\n%s%s", ErrCorrupt, len(c.Problems), strings.Join(shown, "\n"), more)
}

func comparePacks(a, b packID) int { return strings.Compare(string(a[:]), string(b[:])) }

// checkPack reads one pack copy whole and checks it, and each chunk in
// it; it returns what is wrong.
func (r *Repository) checkPack(ctx context.Context, t Target, p indexPack, c *SnapshotCheck) []string {
	rc, err := t.Get(ctx, packName(p.ID))
	if err != nil {
		return []string{err.Error()}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, p.Size+1))
	if err != nil {
		return []string{err.Error()}
	}
	c.PacksRead++
	c.BytesRead += int64(len(data))
	var out []string
	if int64(len(data)) != p.Size {
		out = append(out, fmt.Sprintf("%d bytes, the index says %d", len(data), p.Size))
	} else if sha256.Sum256(data) != p.ID {
		out = append(out, "content does not match its name (damaged)")
	}
	for _, ch := range p.Chunks {
		if ch.Offset+ch.Length > int64(len(data)) {
			out = append(out, fmt.Sprintf("chunk %s at %d: beyond the end", ch.ID.short(), ch.Offset))
			continue
		}
		c.ChunksRead++
		if _, err := r.openChunk(ctx, ch.ID, ch.Plain, data[ch.Offset:ch.Offset+ch.Length]); err != nil {
			out = append(out, fmt.Sprintf("chunk at %d: %v", ch.Offset, err))
		}
	}
	return out
}

// checkPartialIndexes checks the indexes that some target lacks. Each
// target must index, by the indexes it holds, every chunk a snapshot
// uses; an index missing on a target is a problem only when it is not
// so. A prune that stopped leaves its merged index on some targets only,
// or an old index on some, and each target still indexes everything by
// the others.
func (r *Repository) checkPartialIndexes(snaps map[string]*snapshotFile, idx *repoIndex, partial, indexOn map[string][]Target) []string {
	if len(partial) == 0 {
		return nil
	}
	used := map[chunkID]bool{}
	for _, s := range snaps {
		for _, id := range s.chunkIDs() {
			used[id] = true
		}
	}
	indexed := map[Target]map[chunkID]bool{}
	for _, t := range r.targets {
		indexed[t] = map[chunkID]bool{}
	}
	for n, ts := range indexOn {
		f := idx.files[n]
		if f == nil {
			continue
		}
		for _, t := range ts {
			for _, p := range f.Packs {
				for _, ch := range p.Chunks {
					indexed[t][ch.ID] = true
				}
			}
		}
	}
	var out []string
	for _, n := range slices.Sorted(maps.Keys(partial)) {
		f := idx.files[n]
		if f == nil {
			continue // unreadable: already a problem
		}
	targets:
		for _, t := range r.targets {
			if slices.Contains(partial[n], t) {
				continue
			}
			for _, p := range f.Packs {
				for _, ch := range p.Chunks {
					if used[ch.ID] && !indexed[t][ch.ID] {
						out = append(out, fmt.Sprintf("%s: on %d of %d targets, and no other index on %s lists chunk %s, which a snapshot uses",
							n, len(partial[n]), len(r.targets), t.Name(), ch.ID.short()))
						break targets
					}
				}
			}
		}
	}
	return out
}
