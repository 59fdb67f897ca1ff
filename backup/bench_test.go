package backup_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/saaskit/saaskit/backup"
)

// mixedData is 64 MiB, generated on the fly: half text-like (compresses
// well), half random-looking (does not).
type mixedData struct{ left, n int64 }

const benchChunk = 64 << 20

func newMixed() *mixedData { return &mixedData{left: benchChunk} }

func (m *mixedData) Read(p []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), m.left)]
	for i := range p {
		pos := m.n + int64(i)
		if (pos>>16)%2 == 0 {
			p[i] = "invoice paid by customer "[pos%25]
		} else {
			p[i] = byte(pos*2654435761>>13) ^ byte(pos>>7)
		}
	}
	m.n += int64(len(p))
	m.left -= int64(len(p))
	return len(p), nil
}

func (m *mixedData) Close() error { return nil }

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)*benchChunk/(1<<20)/time.Since(start).Seconds(), "MiB/s")
}

// BenchmarkPipeline backs up 64 MiB of mixed data per op to a local
// directory, beside each stage alone on the same data (read, zstd,
// AES-GCM streaming encryption, write): the pipeline's throughput
// against the slowest stage is the target's ratio. It also reports the
// peak heap during the pipeline.
//
//	go test -run '^$' -bench Pipeline -benchtime 16x ./backup/   # 1 GiB per benchmark
func BenchmarkPipeline(b *testing.B) {
	ctx := context.Background()
	keys, _ := newKeyring(&testing.T{})
	cipher := backup.KeyringCipher(keys, "bench")
	b.Run("stage-read", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			_, _ = io.Copy(io.Discard, newMixed())
		}
		reportRate(b, start)
	})
	b.Run("stage-zstd", func(b *testing.B) {
		z, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1))
		start := time.Now()
		for range b.N {
			z.Reset(io.Discard)
			_, _ = io.Copy(z, newMixed())
			_ = z.Close()
		}
		reportRate(b, start)
	})
	b.Run("stage-aes-gcm", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			w, err := cipher.EncryptStream(ctx, io.Discard, []byte("bench"))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(w, newMixed())
			_ = w.Close()
		}
		reportRate(b, start)
	})
	b.Run("stage-write", func(b *testing.B) {
		dir := b.TempDir()
		start := time.Now()
		for i := range b.N {
			f, _ := os.Create(filepath.Join(dir, "f"))
			_, _ = io.Copy(f, newMixed())
			_ = f.Sync()
			_ = f.Close()
			_ = i
		}
		reportRate(b, start)
	})
	b.Run("pipeline", func(b *testing.B) {
		target, err := backup.NewDirTarget(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		bk, err := backup.New(cipher, []backup.Target{target}, backup.Options{})
		if err != nil {
			b.Fatal(err)
		}
		src := backup.ReaderSource("mixed", func(context.Context) (io.ReadCloser, error) { return newMixed(), nil })
		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				peak.Store(max(peak.Load(), ms.HeapAlloc))
			}
		})
		b.ReportAllocs()
		start := time.Now()
		for range b.N {
			if _, err := bk.Run(ctx, src); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, start)
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	})
}
