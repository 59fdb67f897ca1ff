package backup

import (
	"io"
	"slices"
	"sync"

	"github.com/restic/chunker"
)

// How a stream is split with a chunk cache.
//
// Content-defined chunking decides each boundary from the bytes after
// the previous one only: restic's chunker restarts its rolling hash at
// every boundary (and skips the first ChunkMin-64 bytes of a chunk
// unhashed), so the chunk starting at a boundary is a function of the
// bytes from there on. Hence, at an offset known to be a boundary of
// the stream's full chunking (offset 0 first):
//
//   - if the next bytes are those of a cached chunk (same length, same
//     keyed digest), that chunk is the next one of the full chunking,
//     and its end the next boundary: the cut was made by the content
//     inside it, or at ChunkMax. The last cached chunk is the exception:
//     the end of the old stream cut it, so it counts only where the new
//     stream ends at its end too;
//   - otherwise the chunker runs from that offset, and every boundary it
//     finds is a boundary of the full chunking.
//
// After each chunk the chunker cuts, the splitter looks for a cached
// chunk to resume with: one starting at the same offset (shifted by
// what was inserted or removed before the last resumption: in-place
// page updates of a database end there), or the one after a cached
// chunk with the digest of the chunk just cut (bytes inserted or
// removed). Resuming is only a guess, checked by the digest of the
// bytes; a wrong guess costs one digest. So the chunk list is exactly
// the one chunking the whole stream gives, whatever changed, and a
// chunk that did not change costs a keyed BLAKE3 of its bytes instead
// of chunking, HMAC-SHA256, compression, encryption and upload.

// piece is one chunk of a stream, as the splitter gives it.
type piece struct {
	length int
	// data is the chunk's bytes, in buf (from the Repository's pool):
	// set for a chunk the chunker cut, and for a cached chunk the
	// repository does not hold.
	data []byte
	buf  *[]byte
	// cached: recognised from the chunk cache, so id is set.
	cached    bool
	id        chunkID
	digest    chunkDigest
	hasDigest bool
}

// splitter cuts a stream into the chunks content-defined chunking gives
// it, taking those the chunk cache recognises without chunking them.
type splitter struct {
	r     *Repository
	cache *chunkCache // nil: chunk everything
	// need says whether a cached chunk's bytes are needed (to store it).
	need func(chunkID) bool

	win      streamWindow
	ch       *chunker.Chunker
	cr       windowReader
	chunking bool // ch runs, from a boundary

	pos   int64 // where the next chunk starts: a boundary of the full chunking
	ci    int   // the cached chunk expected at pos, or -1 while chunking
	shift int64 // pos minus the cached offset of ci, at the last resumption
	bat   digestBatch
	// batch is how many cached chunks the next check takes at once: few
	// after resuming (a wrong guess wastes little), twice as many after
	// each run that matched, up to batchBytes.
	batch      int
	batchBytes int64
	workers    int
}

// digestBatch holds the outcome of checking a run of cached chunks
// against the stream, each where it would be if all before it matched.
type digestBatch struct {
	first int     // the first cached chunk checked
	pos   []int64 // where each was checked
	ok    []bool  // whether the stream's bytes there have its digest
}

func newSplitter(r *Repository, rd io.Reader, cache *chunkCache, need func(chunkID) bool) *splitter {
	s := &splitter{r: r, cache: cache, need: need, win: streamWindow{rd: rd}, ci: -1,
		batchBytes: splitBatch(r.cfg), workers: max(1, r.opts.Workers)}
	s.batch = s.workers
	if cache != nil {
		// The window holds a batch, or a chunk and the chunker's
		// read-ahead; it is reused from snapshot to snapshot.
		s.win.back = *r.windows.Get().(*[]byte)
		if len(cache.chunks) > 0 {
			s.ci = 0
		}
	}
	return s
}

// splitBatch is how many bytes of cached chunks a splitter checks at
// once, and windowSize the size of its window, for config cfg.
func splitBatch(cfg repoConfig) int64 { return max(8<<20, 4*int64(cfg.ChunkMax)) }
func windowSize(cfg repoConfig) int {
	return int(splitBatch(cfg)) + cfg.ChunkMax + 1<<20 + windowMinRead
}

// release returns the window to the Repository's pool: the splitter's
// pieces no longer refer to it (they hold copies).
func (s *splitter) release() {
	if s.win.back != nil && len(s.win.back) == windowSize(s.r.cfg) {
		b := s.win.back
		s.r.windows.Put(&b)
	}
	s.win.back = nil
}

// next returns the next chunk, or io.EOF after the last.
func (s *splitter) next() (piece, error) {
	if s.ci >= 0 {
		p, ok, err := s.fromCache()
		if err != nil || ok {
			return p, err
		}
		s.ci = -1
	}
	if !s.chunking {
		s.startChunking()
	}
	p, err := s.r.cut(s.ch)
	if err != nil {
		return p, err
	}
	s.pos += int64(p.length)
	s.win.drop(s.pos)
	if s.cache != nil {
		p.digest, p.hasDigest = s.r.chunkDigest(p.data), true
		s.resume(p)
	}
	return p, nil
}

// startChunking starts the chunker at pos, a boundary.
func (s *splitter) startChunking() {
	var rd io.Reader = &s.cr
	if s.cache == nil {
		rd = s.win.rd // never resumes: no need to keep the bytes
	}
	s.cr = windowReader{w: &s.win, off: s.pos}
	s.ch = s.r.cfg.chunker(s.ch, rd)
	s.chunking = true
}

// chunker is ch, or a new chunker when nil, set to chunk rd from its
// start with the repository's parameters.
func (cfg repoConfig) chunker(ch *chunker.Chunker, rd io.Reader) *chunker.Chunker {
	if ch == nil {
		ch = chunker.NewWithBoundaries(rd, cfg.Polynomial, uint(cfg.ChunkMin), uint(cfg.ChunkMax))
	} else {
		ch.ResetWithBoundaries(rd, cfg.Polynomial, uint(cfg.ChunkMin), uint(cfg.ChunkMax))
	}
	ch.SetAverageBits(cfg.AverageBits)
	return ch
}

// cut is the next chunk ch cuts, in a buffer of the repository's pool.
func (r *Repository) cut(ch *chunker.Chunker) (piece, error) {
	buf := r.bufs.Get().(*[]byte)
	c, err := ch.Next(*buf)
	if err != nil {
		r.bufs.Put(buf)
		return piece{}, err
	}
	return piece{length: len(c.Data), data: c.Data, buf: buf}, nil
}

// resume picks the cached chunk to try after the chunk p just cut, if
// any: see the comment at the top of this file.
func (s *splitter) resume(p piece) {
	c := s.cache
	j := c.startingAt(s.pos - s.shift)
	if j < 0 && s.shift != 0 {
		j = c.startingAt(s.pos)
	}
	if j < 0 {
		if k, ok := c.byDigest[p.digest]; ok && int(c.chunks[k].length) == p.length && k+1 < len(c.chunks) {
			j = k + 1
		}
	}
	if j >= 0 {
		s.ci, s.shift, s.chunking, s.batch = j, s.pos-c.offsets[j], false, s.workers
	}
}

// fromCache returns cached chunk ci when the stream's bytes at pos are
// its bytes (and, for the last cached chunk, the stream ends with it).
func (s *splitter) fromCache() (piece, bool, error) {
	e := s.cache.chunks[s.ci]
	ok, err := s.check(s.ci, s.pos)
	if err != nil || !ok {
		return piece{}, false, err
	}
	end := s.pos + int64(e.length)
	last := s.ci == len(s.cache.chunks)-1
	if last {
		if err := s.win.fill(end + 1); err != nil {
			return piece{}, false, err
		}
		if s.win.end() > end {
			return piece{}, false, nil
		}
	}
	p := piece{length: int(e.length), cached: true, id: e.id, digest: e.digest, hasDigest: true}
	if s.need(e.id) {
		p.buf = s.r.bufs.Get().(*[]byte)
		p.data = append((*p.buf)[:0], s.win.bytes(s.pos, end)...)
	}
	s.pos = end
	s.win.drop(end)
	if s.ci++; last {
		s.ci = -1 // the stream ended: the chunker will say so
	}
	return p, true, nil
}

// check says whether the stream's bytes at pos have cached chunk i's
// digest. It checks a run of cached chunks at once, each where it would
// be if all before it matched, and keeps the outcome: after a change,
// chunking often resumes where the run expected. Workers goroutines
// take turns reading a chunk's bytes and hash them while the next
// reads: each hashes what it has just read, still in its core's cache.
func (s *splitter) check(i int, pos int64) (bool, error) {
	b := &s.bat
	if k := i - b.first; k >= 0 && k < len(b.ok) && b.pos[k] == pos {
		return b.ok[k], nil
	}
	chunks := s.cache.chunks
	b.first, b.pos = i, b.pos[:0]
	var total int64
	for k := i; k < len(chunks) && k-i < s.batch && (k == i || total+int64(chunks[k].length) <= s.batchBytes); k++ {
		b.pos = append(b.pos, pos+total)
		total += int64(chunks[k].length)
	}
	b.ok = append(b.ok[:0], make([]bool, len(b.pos))...)
	// The window does not move while the run is checked: the bytes
	// read go after those being hashed.
	s.win.reserve(pos + total)
	var (
		mu   sync.Mutex // the window's reading end, next, done and err
		next int
		done bool
		err  error
		wg   sync.WaitGroup
	)
	for range min(s.workers, len(b.pos)) {
		wg.Go(func() {
			for {
				mu.Lock()
				k := next
				if done || k == len(b.pos) {
					mu.Unlock()
					return
				}
				next++
				from := b.pos[k]
				end := from + int64(chunks[b.first+k].length)
				for s.win.end() < end && err == nil && !s.win.eof {
					err = s.win.readSome(int(end - s.win.end()))
				}
				if s.win.end() < end {
					done = true // the stream ends before: no match, nor after
					mu.Unlock()
					return
				}
				mu.Unlock()
				b.ok[k] = s.r.chunkDigest(s.win.bytes(from, end)) == chunks[b.first+k].digest
			}
		})
	}
	wg.Wait()
	if !slices.Contains(b.ok, false) {
		s.batch = min(2*s.batch, len(chunks))
	}
	return b.ok[0], err
}

// streamWindow holds a stream's bytes from base (the start of the
// chunk being decided) to what has been read.
type streamWindow struct {
	rd         io.Reader
	back       []byte
	head, tail int // back[head:tail] is the stream from base
	base       int64
	eof        bool
	err        error // sticky
	empty      int   // reads in a row that returned nothing
}

// windowMinRead is the least a read asks the source for.
const windowMinRead = 256 << 10

func (w *streamWindow) end() int64 { return w.base + int64(w.tail-w.head) }

// bytes is the stream from offset from to offset to, which the window
// must hold.
func (w *streamWindow) bytes(from, to int64) []byte {
	return w.back[w.head+int(from-w.base) : w.head+int(to-w.base)]
}

// drop forgets the bytes before offset off (at most end()).
func (w *streamWindow) drop(off int64) {
	if n := int(off - w.base); n > 0 {
		w.head += n
		w.base = off
	}
	if w.head == w.tail {
		w.head, w.tail = 0, 0
	}
}

// windowStep is the most one read asks the source for when filling
// the window.
const windowStep = 1 << 20

// reserve makes room for the window to reach offset end (and read
// ahead a little) without moving: compacting it, or growing it, now.
func (w *streamWindow) reserve(end int64) {
	held := w.tail - w.head
	need := max(int(end-w.base), held) + windowMinRead
	if len(w.back)-w.head >= need {
		return
	}
	if len(w.back) < need {
		back := make([]byte, max(need, 2*len(w.back)))
		copy(back, w.back[w.head:w.tail])
		w.back = back
	} else {
		copy(w.back, w.back[w.head:w.tail])
	}
	w.head, w.tail = 0, held
}

// readSome reads once, at most most bytes, into the room after the
// window's bytes, of which there must be some (reserve). It returns
// the read error but for the end of the stream, which sets eof.
func (w *streamWindow) readSome(most int) error {
	if w.err != nil || w.eof {
		return w.err
	}
	n, err := w.rd.Read(w.back[w.tail:min(len(w.back), w.tail+max(most, 1))])
	w.tail += n
	switch {
	case err == io.EOF:
		w.eof = true
	case err != nil:
		w.err = err
	case n == 0:
		if w.empty++; w.empty > 100 {
			w.err = io.ErrNoProgress
		}
	default:
		w.empty = 0
	}
	return w.err
}

// fill reads until the window reaches offset end or the stream ends.
func (w *streamWindow) fill(end int64) error {
	for w.end() < end && !w.eof {
		w.reserve(end)
		if err := w.readSome(windowStep); err != nil {
			return err
		}
	}
	return nil
}

// windowReader reads a streamWindow from off on, leaving the bytes in
// the window: the chunker reads ahead of its boundaries, and the
// splitter may resume from any of them.
type windowReader struct {
	w   *streamWindow
	off int64
}

func (r *windowReader) Read(p []byte) (int, error) {
	if r.off >= r.w.end() {
		if err := r.w.fill(r.off + int64(len(p))); err != nil {
			return 0, err
		}
		if r.off >= r.w.end() {
			return 0, io.EOF
		}
	}
	n := copy(p, r.w.bytes(r.off, r.w.end()))
	r.off += int64(n)
	return n, nil
}
