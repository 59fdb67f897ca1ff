package backup_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"

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

func benchRepo(b *testing.B) *backup.Repository {
	keys, _ := newKeyring(&testing.T{})
	target, err := backup.NewDirTarget(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r, err := backup.OpenRepository(context.Background(), backup.KeyringCipher(keys, "bench"), []backup.Target{target}, backup.RepositoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSnapshot takes snapshots of 64 MiB to a local directory:
// the first (full) one, then one after 1% of the stream changed (in one
// region, a different one each op), and of a tree of 64 files of 1 MiB
// in full and after one file changed, when the parent's chunk lists
// spare reading the others. The ratio full/incremental is the claim.
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
			r := benchRepo(b)
			b.StartTimer()
			start := time.Now()
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/elapsed.Seconds(), "MiB/s")
	})
	b.Run("stream-incremental-1pct", func(b *testing.B) {
		r := benchRepo(b)
		if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
			b.Fatal(err)
		}
		changed := bytes.Clone(data)
		b.ReportAllocs()
		b.ResetTimer()
		var added int64
		for i := range b.N {
			region := changed[(i*7%97)*len(data)/100:][:len(data)/100]
			for k := range region {
				region[k] ^= byte(i + 1)
			}
			info, err := r.Snapshot(ctx, namedSource("db", changed))
			if err != nil {
				b.Fatal(err)
			}
			added += info.AddedBytes
		}
		b.ReportMetric(float64(b.N)*float64(len(data))/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
		b.ReportMetric(100*float64(added)/float64(b.N)/float64(len(data)), "%written")
	})
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
			r := benchRepo(b)
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
		r := benchRepo(b)
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
// zstd and the streaming AEAD per chunk, and writing 16 MiB packs.
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
			r := benchRepo(b)
			b.StartTimer()
			if _, err := r.Snapshot(ctx, namedSource("db", data)); err != nil {
				b.Fatal(err)
			}
		}
		rate(b)
	})
}
