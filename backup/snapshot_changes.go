package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/restic/chunker"
)

// ByteRange is the bytes [Off, Off+Len) of a stream.
type ByteRange struct {
	Off, Len int64
}

// ChangeSource is a stream source that knows where it changed, as a
// SQLite database under continuous replication does (its replicated
// change sets name the pages each commit wrote: see backup/replicate).
// Given one, Repository.Snapshot records the state each snapshot read
// (ChangedStream.Mark) and, for the next snapshot of the source, asks
// which byte ranges may have changed since: it then reads and chunks
// only around them, from the parent snapshot's chunk that holds a
// change until its cuts meet the parent's again, and takes the parent's
// chunks elsewhere without reading them. The chunk list is the one
// chunking the whole stream gives, provided the change list is right;
// see RepositoryOptions.FullReadEvery for what guards against one that
// is not.
type ChangeSource interface {
	Source
	// OpenChanges opens the stream as it is now, for reading at any
	// offset, with the changes since the state marked since (the Mark
	// of an earlier ChangedStream of this source; "" for none).
	OpenChanges(ctx context.Context, since string) (ChangedStream, error)
}

// ChangedStream is a stream opened by a ChangeSource: a consistent state
// of it, read at any offset.
type ChangedStream interface {
	io.ReaderAt
	io.Closer
	// Size is the stream's length.
	Size() int64
	// Mark names the state read, to ask for the changes since later. It
	// must be no later than the state read: a change it does not
	// precede must be in the change lists asked from it.
	Mark() string
	// Changes lists the byte ranges that may differ from the state
	// asked for (OpenChanges's since), in any order, overlapping or not,
	// at their offsets in both states: changes happen in place, and the
	// stream may grow or shrink at its end. ok is false when the source
	// does not know (an unknown mark, a gap in its records): the stream
	// is then read whole.
	Changes() (ranges []ByteRange, ok bool)
}

// errWrongChanges: a chunk outside the changed ranges does not have the
// content the parent snapshot recorded.
var errWrongChanges = errors.New("the change list missed a change")

// changeSpotChecks is how many of the parent's chunks taken unread a
// snapshot by change list reads and hashes anyway.
const changeSpotChecks = 4

// parentChunks is the parent snapshot's chunk list with each chunk's
// offset and length, from the index; false when a chunk is not indexed.
func (run *snapRun) parentChunks(parent *snapshotFile) (offs, lens []int64, ok bool) {
	offs, lens = make([]int64, len(parent.Stream)), make([]int64, len(parent.Stream))
	var off int64
	for i, id := range parent.Stream {
		locs := run.idx.chunks[id]
		if len(locs) == 0 {
			return nil, nil, false
		}
		offs[i], lens[i] = off, locs[0].plain
		off += locs[0].plain
	}
	return offs, lens, off == parent.Size
}

// changeSplitter cuts a stream into the chunks content-defined chunking
// gives it, knowing where it changed since the parent snapshot: it
// takes the parent's chunks, unread, up to the one holding the next
// change, chunks from there until a cut falls on one of the parent's,
// and takes the parent's chunks again. As the chunker starts afresh at
// every cut, and a chunk is a function of its own bytes (see splitter),
// the parent's chunks that hold no change are the stream's.
type changeSplitter struct {
	r      *Repository
	rd     io.ReaderAt
	size   int64
	parent []chunkID
	offs   []int64 // the parent's chunks: offsets and lengths
	lens   []int64
	// digests of the parent's chunks (its chunk cache), or nil.
	digests []chunkDigest
	changes []ByteRange // sorted, merged, inside the stream
	need    func(chunkID) bool
	check   map[int]bool // parent chunks to read and hash anyway

	pos      int64 // where the next chunk starts
	pi       int   // the parent chunk starting at pos, when chunking is false
	ci       int   // the first change not wholly before pos
	ch       *chunker.Chunker
	chunking bool  // ch runs, from a cut of both chunkings
	read     int64 // bytes read
}

func newChangeSplitter(r *Repository, cs ChangedStream, parent []chunkID, offs, lens []int64, digests []chunkDigest,
	changes []ByteRange, need func(chunkID) bool) *changeSplitter {
	size := cs.Size()
	var oldSize int64
	if n := len(offs); n > 0 {
		oldSize = offs[n-1] + lens[n-1]
	}
	var rs []ByteRange
	for _, c := range changes {
		from, to := max(c.Off, 0), min(c.Off+max(c.Len, 0), size)
		if c.Len > 0 && from < to {
			rs = append(rs, ByteRange{from, to - from})
		}
	}
	if size != oldSize && size > 0 {
		// The parent's last chunk was cut by the end of its stream, not
		// by content: the stream's end is re-chunked from it.
		from := max(0, min(size, oldSize)-1)
		rs = append(rs, ByteRange{from, size - from})
	}
	slices.SortFunc(rs, func(a, b ByteRange) int { return cmp.Compare(a.Off, b.Off) })
	var merged []ByteRange
	for _, c := range rs {
		if n := len(merged); n > 0 && c.Off <= merged[n-1].Off+merged[n-1].Len {
			merged[n-1].Len = max(merged[n-1].Len, c.Off+c.Len-merged[n-1].Off)
			continue
		}
		merged = append(merged, c)
	}
	s := &changeSplitter{r: r, rd: cs, size: size, parent: parent, offs: offs, lens: lens, digests: digests,
		changes: merged, need: need, check: map[int]bool{}}
	for range changeSpotChecks {
		if len(parent) > 0 {
			s.check[rand.IntN(len(parent))] = true
		}
	}
	return s
}

func (s *changeSplitter) release() {}

// next returns the next chunk, or io.EOF after the last.
func (s *changeSplitter) next() (piece, error) {
	if s.pos >= s.size {
		return piece{}, io.EOF
	}
	if !s.chunking {
		if s.pi < len(s.parent) && s.offs[s.pi] == s.pos && s.reusable(s.pi) {
			return s.fromParent()
		}
		s.startChunking()
	}
	p, err := s.r.cut(s.ch)
	if err != nil {
		return p, err
	}
	s.pos += int64(p.length)
	if i, ok := slices.BinarySearch(s.offs, s.pos); ok && s.reusable(i) {
		s.chunking, s.pi = false, i // a cut of the parent's: take its chunks again
	}
	return p, nil
}

// reusable says whether the parent's chunk i, which starts at pos, holds
// no change and lies inside the stream.
func (s *changeSplitter) reusable(i int) bool {
	end := s.pos + s.lens[i]
	if end > s.size {
		return false
	}
	for s.ci < len(s.changes) && s.changes[s.ci].Off+s.changes[s.ci].Len <= s.pos {
		s.ci++
	}
	return s.ci == len(s.changes) || s.changes[s.ci].Off >= end
}

// startChunking starts the chunker at pos, a cut of both chunkings.
func (s *changeSplitter) startChunking() {
	rd := &countingReaderAt{rd: s.rd, n: &s.read}
	s.ch = s.r.cfg.chunker(s.ch, io.NewSectionReader(rd, s.pos, s.size-s.pos))
	s.chunking = true
}

// fromParent takes the parent's chunk pi, unread, unless the repository
// lacks it or it is spot-checked: then its bytes are read, and must be
// the parent's.
func (s *changeSplitter) fromParent() (piece, error) {
	i := s.pi
	p := piece{length: int(s.lens[i]), cached: true, id: s.parent[i]}
	if s.digests != nil {
		p.digest, p.hasDigest = s.digests[i], true
	}
	if s.need(p.id) || s.check[i] {
		buf := s.r.bufs.Get().(*[]byte)
		data := (*buf)[:p.length]
		n, err := s.rd.ReadAt(data, s.pos)
		s.read += int64(n)
		if n < len(data) {
			s.r.bufs.Put(buf)
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return piece{}, err
		}
		if s.r.chunkID(data) != p.id {
			s.r.bufs.Put(buf)
			return piece{}, fmt.Errorf("%w: the parent's chunk %d (bytes %d to %d) changed", errWrongChanges, i, s.pos, s.pos+int64(p.length))
		}
		if s.need(p.id) {
			p.data, p.buf = data, buf
		} else {
			s.r.bufs.Put(buf)
		}
	}
	s.pos += int64(p.length)
	s.pi++
	return p, nil
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	rd io.ReaderAt
	n  *int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.rd.ReadAt(p, off)
	*c.n += int64(n)
	return n, err
}

// snapshotChanges takes a stream snapshot of a ChangeSource: by its
// change list, when there is a parent with a mark, the list is known,
// and the parent's trust has not run out (FullReadEvery); else, or when
// the change list proves wrong, by reading it all (with the chunk
// cache).
func (r *Repository) snapshotChanges(ctx context.Context, run *snapRun, s *snapshotFile, src ChangeSource,
	cache *chunkCache, record bool) ([]cachedChunk, error) {
	since := ""
	parent := run.parent
	if parent != nil {
		since = parent.Mark
	}
	cs, err := src.OpenChanges(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	defer cs.Close()
	s.Mark = cs.Mark()
	if ranges, ok := cs.Changes(); ok && parent != nil && since != "" && (r.opts.FullReadEvery < 0 || parent.Trusted < r.opts.FullReadEvery) {
		if offs, lens, ok := run.parentChunks(parent); ok {
			var digests []chunkDigest
			if cache != nil && cache.snapshot == parent.ID && len(cache.chunks) == len(parent.Stream) {
				digests = make([]chunkDigest, len(cache.chunks))
				for i, c := range cache.chunks {
					digests[i] = c.digest
				}
			}
			sp := newChangeSplitter(r, cs, parent.Stream, offs, lens, digests, ranges, func(id chunkID) bool { return !run.known(id) })
			res, err := run.addPieces(ctx, sp, record && digests != nil)
			if err == nil {
				s.Stream, s.Size, s.CachedBytes, s.ReadBytes = res.ids, res.size, res.cached, sp.read
				s.Chunks, s.Trusted = len(s.Stream), parent.Trusted+1
				if digests == nil {
					return nil, nil
				}
				return res.chunks, nil
			}
			if !errors.Is(err, errWrongChanges) {
				return nil, err
			}
			// What was stored stays stored; the stream is read whole.
		}
	}
	res, err := run.addStream(ctx, io.NewSectionReader(cs, 0, cs.Size()), cache, record)
	s.Stream, s.Size, s.CachedBytes, s.ReadBytes = res.ids, res.size, res.cached, res.size
	s.Chunks, s.Trusted = len(s.Stream), 0
	return res.chunks, err
}
