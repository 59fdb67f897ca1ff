package backup_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"github.com/zeebo/blake3"

	"github.com/saaskit/saaskit/backup"
)

// benchData is 64 MiB of mixedData (half text-like, half random), in
// memory so that reading costs nothing.
func benchData(b *testing.B) []byte {
	data, err := io.ReadAll(newMixed())
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// benchRepo is a repository in a directory, with a chunk cache of its
// own or none.
func benchRepo(b *testing.B, cache bool) *backup.Repository {
	keys, _ := newKeyring(&testing.T{})
	target, err := backup.NewDirTarget(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r, err := backup.OpenRepository(context.Background(), backup.KeyringCipher(keys, "bench"), []backup.Target{target},
		backup.RepositoryOptions{CacheDir: b.TempDir(), NoCache: !cache})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSnapshot takes snapshots of 64 MiB to a local directory:
// the first (full) one, then one after 1% of the stream changed (in one
// region, a different one each op) without the chunk cache (chunking
// all of it again) and with it, and of a tree of 64 files of 1 MiB in
// full and after one file changed, when the parent's chunk lists spare
// reading the others. The ratio full/incremental is the claim.
//
//	go test -run '^$' -bench 'Snapshot$' -benchtime 5x -count 3 ./backup/
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	data := benchData(b)
	b.Run("stream-full", func(b *testing.B) {
		b.ReportAllocs()
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			r := benchRepo(b, true)
			b.StartTimer()
			start := time.Now()
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/elapsed.Seconds(), "MiB/s")
	})
	for _, mode := range []struct {
		name  string
		cache bool
	}{{"stream-incremental-1pct", false}, {"stream-incremental-1pct-cached", true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := benchRepo(b, mode.cache)
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
			changed := bytes.Clone(data)
			b.ReportAllocs()
			b.ResetTimer()
			var added, cached int64
			for i := range b.N {
				b.StopTimer()
				region := changed[(i*7%97)*len(data)/100:][:len(data)/100]
				for k := range region {
					region[k] ^= byte(i + 1)
				}
				b.StartTimer()
				info, err := r.Snapshot(ctx, namedSource("db", changed))
				if err != nil {
					b.Fatal(err)
				}
				added += info.AddedBytes
				cached += info.CachedBytes
			}
			b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
			b.ReportMetric(100*float64(added)/float64(b.N)/float64(len(data)), "%written")
			b.ReportMetric(100*float64(cached)/float64(b.N)/float64(len(data)), "%cached")
		})
	}
	dir := b.TempDir()
	for i := range 64 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), data[i<<20:(i+1)<<20], 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("tree-full", func(b *testing.B) {
		b.ReportAllocs()
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			r := benchRepo(b, true)
			b.StartTimer()
			start := time.Now()
			if _, err := r.SnapshotDir(ctx, dir); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/elapsed.Seconds(), "MiB/s")
	})
	b.Run("tree-incremental-1file", func(b *testing.B) {
		r := benchRepo(b, true)
		if _, err := r.SnapshotDir(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			name := filepath.Join(dir, fmt.Sprintf("f%02d", i%64))
			f := bytes.Clone(data[:1<<20])
			f[i%len(f)] ^= 0xff
			if err := os.WriteFile(name, f, 0o600); err != nil {
				b.Fatal(err)
			}
			later := time.Now().Add(time.Duration(i+1) * time.Second)
			_ = os.Chtimes(name, later, later)
			b.StartTimer()
			if _, err := r.SnapshotDir(ctx, dir); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
	})
}

// BenchmarkSnapshotStages runs each stage of a snapshot alone on the
// same 64 MiB, beside the limit (a copy to io.Discard) and the whole
// pipeline: content-defined chunking, the keyed hash (HMAC-SHA256),
// the chunk cache's keyed BLAKE3 digest, zstd and the streaming AEAD
// per chunk, and writing 16 MiB packs.
//
//	go test -run '^$' -bench 'SnapshotStages' -benchtime 5x -count 3 ./backup/
func BenchmarkSnapshotStages(b *testing.B) {
	ctx := context.Background()
	data := benchData(b)
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		b.Fatal(err)
	}
	var chunks [][]byte
	ch := chunker.NewWithBoundaries(bytes.NewReader(data), pol, 128<<10, 2<<20)
	ch.SetAverageBits(18)
	for {
		c, err := ch.Next(nil)
		if err == io.EOF {
			break
		}
		chunks = append(chunks, c.Data)
	}
	rate := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
	}
	b.Run("limit-copy", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = io.Copy(io.Discard, struct{ io.Reader }{bytes.NewReader(data)}) // memmove through a 32 KiB buffer
		}
		rate(b)
	})
	b.Run("chunk", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 2<<20)
		for range b.N {
			ch := chunker.NewWithBoundaries(bytes.NewReader(data), pol, 128<<10, 2<<20)
			ch.SetAverageBits(18)
			for {
				if _, err := ch.Next(buf); err == io.EOF {
					break
				}
			}
		}
		rate(b)
	})
	b.Run("hmac-sha256", func(b *testing.B) {
		b.ReportAllocs()
		key := make([]byte, 32)
		for range b.N {
			for _, c := range chunks {
				h := hmac.New(sha256.New, key)
				h.Write(c)
				h.Sum(nil)
			}
		}
		rate(b)
	})
	b.Run("blake3-keyed", func(b *testing.B) {
		b.ReportAllocs()
		h, _ := blake3.NewKeyed(make([]byte, 32))
		var sum [32]byte
		for range b.N {
			for _, c := range chunks {
				h.Reset()
				_, _ = h.Write(c)
				h.Sum(sum[:0])
			}
		}
		rate(b)
	})
	b.Run("zstd", func(b *testing.B) {
		z, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		b.ReportAllocs()
		var dst []byte
		for range b.N {
			for _, c := range chunks {
				dst = z.EncodeAll(c, dst[:0])
			}
		}
		rate(b)
	})
	b.Run("encrypt", func(b *testing.B) {
		keys, _ := newKeyring(&testing.T{})
		cipher := backup.KeyringCipher(keys, "bench")
		b.ReportAllocs()
		var out bytes.Buffer
		for range b.N {
			for _, c := range chunks {
				out.Reset()
				w, err := cipher.EncryptStream(ctx, &out, []byte("chunk"))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = w.Write(c)
				_ = w.Close()
			}
		}
		rate(b)
	})
	b.Run("write-packs", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			target, err := backup.NewDirTarget(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			for p := 0; p < len(data); p += 16 << 20 {
				if err := target.Put(ctx, fmt.Sprintf("p/%d-%d", i, p), bytes.NewReader(data[p:min(p+16<<20, len(data))])); err != nil {
					b.Fatal(err)
				}
			}
		}
		rate(b)
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			r := benchRepo(b, true)
			b.StartTimer()
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
		}
		rate(b)
	})
}

// gibData is 1 GiB in memory: 64 KiB blocks of random bytes and of
// text-like bytes (32 letters: zstd takes off about a third),
// alternating.
var gibData = sync.OnceValue(func() []byte {
	data := make([]byte, 1<<30)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	for off := 0; off < len(data); off += 128 << 10 {
		for i, c := range data[off : off+64<<10] {
			data[off+i] = 'a' + c%32
		}
	}
	return data
})

// changeGiB changes 1% of data in place, in four places (of 2.6 MiB),
// other places for each n, and returns them.
func changeGiB(data []byte, n int) []backup.ByteRange {
	var out []backup.ByteRange
	for k := range 4 {
		at := (k*len(data)/4 + (n*37%89)*len(data)/400) % (len(data) - len(data)/400)
		region := data[at : at+len(data)/400]
		for i := range region {
			region[i] ^= byte(n + 1)
		}
		out = append(out, backup.ByteRange{Off: int64(at), Len: int64(len(region))})
	}
	return out
}

// benchChanges is a ChangeSource over a stream in memory, edited in
// place between snapshots: changes[v] are the ranges version v+1
// changed.
type benchChanges struct {
	data    []byte
	changes [][]backup.ByteRange
}

func (c *benchChanges) Name() string { return "db" }
func (c *benchChanges) Open(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.data)), nil
}
func (c *benchChanges) OpenChanges(_ context.Context, since string) (backup.ChangedStream, error) {
	cs := changedStream{Reader: bytes.NewReader(c.data), mark: strconv.Itoa(len(c.changes))}
	if v, err := strconv.Atoi(since); err == nil && v <= len(c.changes) {
		cs.ok = true
		for _, e := range c.changes[v:] {
			cs.changes = append(cs.changes, e...)
		}
	}
	return cs, nil
}

// BenchmarkSnapshotGiB is the claim at database size: a stream of 1
// GiB taken in full (the first snapshot), then again after 1% of it
// changed in place in four places, with the chunk cache and without
// (chunking all of it again), and from a source that says where it
// changed (a ChangeSource: only the changed regions are read), beside
// the limits of the cached path:
// reading the stream, and the keyed BLAKE3 digest over all of it on one
// core and on every core. It takes minutes; select it by name.
//
//	go test -run '^$' -bench 'SnapshotGiB' -benchtime 3x -count 3 -timeout 1h ./backup/
func BenchmarkSnapshotGiB(b *testing.B) {
	ctx := context.Background()
	data := gibData()
	rate := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
	}
	b.Run("limit-read", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 16<<20)
		for range b.N {
			rd := bytes.NewReader(data)
			for {
				if _, err := io.ReadFull(rd, buf); err != nil {
					break
				}
			}
		}
		rate(b)
	})
	const piece = 384 << 10 // the average chunk
	digest := func(h *blake3.Hasher, p []byte) {
		var sum [32]byte
		h.Reset()
		_, _ = h.Write(p)
		h.Sum(sum[:0])
	}
	b.Run("limit-blake3-keyed", func(b *testing.B) {
		b.ReportAllocs()
		h, _ := blake3.NewKeyed(make([]byte, 32))
		for range b.N {
			for off := 0; off < len(data); off += piece {
				digest(h, data[off:min(off+piece, len(data))])
			}
		}
		rate(b)
	})
	b.Run("limit-blake3-keyed-all-cores", func(b *testing.B) {
		b.ReportAllocs()
		workers := runtime.GOMAXPROCS(0)
		for range b.N {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					h, _ := blake3.NewKeyed(make([]byte, 32))
					for off := w * piece; off < len(data); off += workers * piece {
						digest(h, data[off:min(off+piece, len(data))])
					}
				})
			}
			wg.Wait()
		}
		rate(b)
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			r := benchRepo(b, true)
			b.StartTimer()
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
		}
		rate(b)
	})
	for _, mode := range []struct {
		name           string
		cache, changes bool
	}{{"incremental-1pct-cached", true, false}, {"incremental-1pct-nocache", false, false}, {"incremental-1pct-changes", true, true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := benchRepo(b, mode.cache)
			changed := &benchChanges{data: bytes.Clone(data)}
			var src backup.Source = namedSource("db", changed.data)
			if mode.changes {
				src = changed // the source says where it changed
			}
			if _, err := r.Snapshot(ctx, src); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var added, cached, read int64
			for i := range b.N {
				b.StopTimer()
				changed.changes = append(changed.changes, changeGiB(changed.data, i))
				b.StartTimer()
				info, err := r.Snapshot(ctx, src)
				if err != nil {
					b.Fatal(err)
				}
				added += info.AddedBytes
				cached += info.CachedBytes
				read += info.ReadBytes
			}
			rate(b)
			b.ReportMetric(100*float64(added)/float64(b.N)/float64(len(data)), "%written")
			b.ReportMetric(100*float64(cached)/float64(b.N)/float64(len(data)), "%cached")
			if mode.changes {
				b.ReportMetric(100*float64(read)/float64(b.N)/float64(len(data)), "%read")
			}
		})
	}
}
