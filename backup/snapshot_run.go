package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// snapRun is one snapshot being taken: what the repository already
// holds, and the packs this run writes.
type snapRun struct {
	r    *Repository
	lock *repoLock
	idx  *repoIndex
	// present holds the packs on every target: only their chunks count
	// as stored, so a target added later, or a pack lost, gets the
	// chunks written again.
	present map[packID]bool
	parent  *snapshotFile

	stored    map[chunkID]bool // chunks this run stored (collector only)
	pack      packBuilder
	newChunks int

	uploads chan pendingPack
	upDone  chan struct{}
	mu      sync.Mutex
	upErr   error
	packs   []indexPack // written to every target
	added   int64
}

type pendingPack struct {
	ip   indexPack
	data []byte
}

func (r *Repository) newRun(ctx context.Context, lock *repoLock) (*snapRun, error) {
	idx, err := r.loadIndex(ctx, false)
	if err != nil {
		return nil, err
	}
	run := &snapRun{r: r, lock: lock, idx: idx, stored: map[chunkID]bool{},
		uploads: make(chan pendingPack, 1), upDone: make(chan struct{})}
	for i, t := range r.targets {
		on, err := packsOn(ctx, t)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			run.present = on
			continue
		}
		for id := range run.present {
			if !on[id] {
				delete(run.present, id)
			}
		}
	}
	go run.upload(ctx)
	return run, nil
}

// upload writes packs to every target, one at a time, while the next
// pack is being filled.
func (run *snapRun) upload(ctx context.Context) {
	defer close(run.upDone)
	for p := range run.uploads {
		if run.err() != nil {
			continue
		}
		err := putAll(ctx, run.r.targets, packName(p.ip.ID), p.data, true)
		run.mu.Lock()
		if err != nil {
			run.upErr = err
		} else {
			run.packs = append(run.packs, p.ip)
			run.added += int64(len(p.data))
		}
		run.mu.Unlock()
	}
}

func (run *snapRun) err() error {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.upErr
}

// findParent is the newest snapshot of the same source, tenant and
// kind.
func (run *snapRun) findParent(ctx context.Context, source, kind string) *snapshotFile {
	all, err := run.r.loadSnapshots(ctx, false)
	if err != nil {
		return nil
	}
	for i := len(all) - 1; i >= 0; i-- {
		if s := all[i]; s.Source == source && s.TenantID == run.r.opts.TenantID && s.Kind == kind {
			run.parent = s
			return s
		}
	}
	return nil
}

// known says whether the repository holds chunk id on every target.
// Workers call it concurrently: it reads only what the run began with.
func (run *snapRun) known(id chunkID) bool {
	for _, l := range run.idx.chunks[id] {
		if run.present[l.pack] {
			return true
		}
	}
	return false
}

// allKnown says whether every chunk of ids is stored, or stored by this
// run (so it is called by the collector only).
func (run *snapRun) allKnown(ids []chunkID) bool {
	for _, id := range ids {
		if !run.stored[id] && !run.known(id) {
			return false
		}
	}
	return true
}

type chunkJob struct {
	piece
	blob []byte // sealed, when the chunk is new
	err  error
	done chan struct{}
}

// streamResult is what addStream stored of a stream.
type streamResult struct {
	ids  []chunkID
	size int64
	// cached counts the bytes of chunks the chunk cache recognised.
	cached int64
	// chunks is the chunk list for the next snapshot's chunk cache, when
	// addStream was asked to record it.
	chunks []cachedChunk
}

// addStream cuts rd into chunks (with the chunk cache of its last
// snapshot, when not nil: see splitter), stores those the repository
// lacks, and returns the chunk list and the size; with record, also
// each chunk's digest for the next chunk cache. One goroutine splits,
// Workers hash, compress and encrypt, and the caller's goroutine
// gathers the results in order into packs.
func (run *snapRun) addStream(ctx context.Context, rd io.Reader, cache *chunkCache, record bool) (streamResult, error) {
	sp := newSplitter(run.r, contextReader{ctx, rd}, cache, func(id chunkID) bool { return !run.known(id) })
	return run.addPieces(ctx, sp, record)
}

// pieceSource gives a stream's chunks in order: a splitter, or a
// changeSplitter.
type pieceSource interface {
	next() (piece, error)
	release()
}

// addPieces stores the chunks sp gives that the repository lacks, and
// returns the chunk list and the size, as addStream does.
func (run *snapRun) addPieces(ctx context.Context, sp pieceSource, record bool) (streamResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := run.r.opts.Workers
	jobs := make(chan *chunkJob, workers)
	order := make(chan *chunkJob, 2*workers)
	var readErr error
	go func() {
		defer close(order)
		defer close(jobs)
		defer sp.release()
		for {
			p, err := sp.next()
			if err != nil {
				if err != io.EOF {
					readErr = fmt.Errorf("read source: %w", err)
				}
				return
			}
			j := &chunkJob{piece: p, done: make(chan struct{})}
			if p.data == nil {
				close(j.done) // a cached chunk the repository holds: nothing to do
			}
			select {
			case order <- j:
			case <-ctx.Done():
				if p.buf != nil {
					run.r.bufs.Put(p.buf)
				}
				return
			}
			if p.data != nil {
				jobs <- j
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if j.err = ctx.Err(); j.err == nil {
					// Also for a cached chunk to store: what is stored is
					// named by its bytes, whatever the cache said.
					j.id = run.r.chunkID(j.data)
					if record && !j.hasDigest {
						j.digest, j.hasDigest = run.r.chunkDigest(j.data), true
					}
					if !run.known(j.id) {
						j.blob, j.err = run.r.sealChunk(ctx, j.id, j.data)
					}
				}
				close(j.done)
			}
		})
	}
	var res streamResult
	var err error
	for j := range order {
		<-j.done
		if err == nil {
			if err = j.err; err == nil {
				err = run.collect(ctx, j)
			}
			if err != nil {
				cancel()
			}
			res.ids = append(res.ids, j.id)
			res.size += int64(j.length)
			if j.cached {
				res.cached += int64(j.length)
			}
			if record {
				res.chunks = append(res.chunks, cachedChunk{length: uint32(j.length), id: j.id, digest: j.digest})
			}
		}
		j.data, j.blob = nil, nil
		if j.buf != nil {
			run.r.bufs.Put(j.buf)
		}
	}
	wg.Wait()
	if err == nil {
		err = readErr
	}
	return res, err
}

// collect adds a new chunk to the pack being filled, and hands a full
// pack to the uploader.
func (run *snapRun) collect(ctx context.Context, j *chunkJob) error {
	if j.blob == nil || run.stored[j.id] {
		return nil
	}
	run.stored[j.id] = true
	run.newChunks++
	run.pack.add(j.id, j.blob, j.length, run.r.opts.PackSize+run.r.cfg.ChunkMax+64<<10)
	if len(run.pack.buf) < run.r.opts.PackSize {
		return nil
	}
	return run.flush(ctx)
}

func (run *snapRun) flush(ctx context.Context) error {
	if err := run.err(); err != nil {
		return err
	}
	ip, data := run.pack.finish()
	select {
	case run.uploads <- pendingPack{ip, data}:
	case <-ctx.Done():
		return ctx.Err()
	}
	return run.lock.refresh(ctx)
}

// finish writes the last pack and the run's index. When the run failed
// (failed true), the packs already written are still indexed, so that
// the next attempt does not store their chunks again.
func (run *snapRun) finish(ctx context.Context, id string, failed bool) error {
	var err error
	if !failed && len(run.pack.chunks) > 0 {
		err = run.flush(ctx)
	}
	close(run.uploads)
	<-run.upDone
	if err == nil {
		err = run.err()
	}
	if len(run.packs) > 0 {
		data, serr := run.r.seal(ctx, indexPrefix+id, indexFile{Version: 1, Packs: run.packs})
		if serr == nil {
			serr = putAll(ctx, run.r.targets, indexPrefix+id, data, false)
		}
		if serr == nil {
			run.added += int64(len(data))
		}
		err = errors.Join(err, serr)
	}
	return err
}

// SnapshotDir takes a snapshot of the tree under dir: its regular
// files, directories and symbolic links (recorded, not followed; other
// kinds of file are skipped), with permissions and modification times.
// A file whose size, time and permissions are those of the parent
// snapshot (the newest of the same directory) is not read again: its
// chunk list is reused, as restic and kopia do, so a snapshot of a tree
// in which few files changed reads little more than those.
func (r *Repository) SnapshotDir(ctx context.Context, dir string, tags ...string) (*SnapshotInfo, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, dir)
	}
	return r.take(ctx, "dir:"+dir, "tree", tags, func(ctx context.Context, run *snapRun, s *snapshotFile) error {
		prev := map[string]treeEntry{}
		if run.parent != nil {
			for _, e := range run.parent.Tree {
				prev[e.Path] = e
			}
		}
		return filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil || rel == "." {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			te := treeEntry{Path: filepath.ToSlash(rel), Mode: info.Mode().Perm(), MTime: info.ModTime().UTC()}
			switch {
			case info.IsDir():
				te.Type = "dir"
			case info.Mode()&fs.ModeSymlink != 0:
				te.Type, te.Mode = "symlink", 0
				if te.Link, err = os.Readlink(path); err != nil {
					return err
				}
			case info.Mode().IsRegular():
				te.Type = "file"
				if old, ok := prev[te.Path]; ok && old.Type == "file" && old.Size == info.Size() && old.MTime.Equal(te.MTime) &&
					old.Mode == te.Mode && run.allKnown(old.Chunks) {
					te.Size, te.Chunks = old.Size, old.Chunks
				} else {
					f, err := os.Open(path)
					if err != nil {
						return err
					}
					var res streamResult
					res, err = run.addStream(ctx, f, nil, false)
					te.Chunks, te.Size = res.ids, res.size
					f.Close()
					if err != nil {
						return fmt.Errorf("%s: %w", te.Path, err)
					}
				}
				s.Files++
				s.Chunks += len(te.Chunks)
				s.Size += te.Size
			default:
				return nil
			}
			s.Tree = append(s.Tree, te)
			return nil
		})
	})
}
