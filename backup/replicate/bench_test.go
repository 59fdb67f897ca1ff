package replicate

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/streamingaead/subtle"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// benchCipher is AES-256-GCM-HKDF streaming with a random key, as
// KeyringCipher encrypts, without a keyring.
type benchCipher struct{ aead *subtle.AESGCMHKDF }

func newBenchCipher(b *testing.B) backup.Cipher {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	aead, err := subtle.NewAESGCMHKDF(key, "SHA256", 32, 1<<20, 0)
	if err != nil {
		b.Fatal(err)
	}
	return benchCipher{aead}
}

func (benchCipher) KeyID() string { return "bench" }
func (c benchCipher) EncryptStream(_ context.Context, w io.Writer, ad []byte) (io.WriteCloser, error) {
	return c.aead.NewEncryptingWriter(w, ad)
}
func (c benchCipher) DecryptStream(_ context.Context, r io.Reader, ad []byte) (io.Reader, error) {
	return c.aead.NewDecryptingReader(r, ad)
}

func openBenchDB(b *testing.B, path string) *sqldb.DB {
	db, err := sqldb.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, body TEXT NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkWrites measures the application's write throughput (one
// 200-byte row per transaction, from one goroutine) on a SQLite file
// without replication, the limit, and with continuous replication to a
// directory target, in the same run.
func BenchmarkWrites(b *testing.B) {
	body := string(make([]byte, 200))
	for _, replicated := range []bool{false, true} {
		name := "plain"
		if replicated {
			name = "replicated"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			path := filepath.Join(dir, "app.db")
			db := openBenchDB(b, path)
			var r *Replicator
			if replicated {
				target, err := backup.NewDirTarget(filepath.Join(dir, "backups"))
				if err != nil {
					b.Fatal(err)
				}
				if r, err = Start(ctx, path, newBenchCipher(b), []backup.Target{target}, Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.Exec("INSERT INTO rows (n, body) VALUES (?, ?)", i, body); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			db.Close()
			if r != nil {
				if err := r.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				if err := r.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLag writes 1,000 rows a second while replicating with the
// default 1 s sync interval, and reports how long each commit took to
// reach the target: from the commit to the moment the replica's
// position covered the first change set gathered after it (sampled
// every 5 ms). b.N is the number of writes.
func BenchmarkLag(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "app.db")
	db := openBenchDB(b, path)
	defer db.Close()
	target, err := backup.NewDirTarget(filepath.Join(dir, "backups"))
	if err != nil {
		b.Fatal(err)
	}
	r, err := Start(ctx, path, newBenchCipher(b), []backup.Target{target}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)

	commits := make([]time.Time, 0, b.N)
	// gathered[i] is when local change set i first appeared; shipped[i]
	// when the replica's position reached it.
	gathered, shipped := map[uint64]time.Time{}, map[uint64]time.Time{}
	sample := func(now time.Time) {
		if pos, err := r.db.Pos(); err == nil {
			if _, ok := gathered[uint64(pos.TXID)]; !ok {
				gathered[uint64(pos.TXID)] = now
			}
		}
		if id := uint64(r.rep.Pos().TXID); id > 0 {
			if _, ok := shipped[id]; !ok {
				shipped[id] = now
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	next := time.Now()
	for i := 0; i < b.N; {
		now := <-tick.C
		if i%5 == 0 {
			sample(now)
		}
		if now.Before(next) {
			continue
		}
		if _, err := db.Exec("INSERT INTO rows (n, body) VALUES (?, 'x')", i); err != nil {
			b.Fatal(err)
		}
		commits = append(commits, time.Now())
		next = next.Add(time.Millisecond)
		i++
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; {
		sample(time.Now())
		if lag, _ := r.Lag(); lag == 0 && len(shipped) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()

	// Each commit is shipped with the first change set gathered after
	// it; that set reached the target when the replica first covered it.
	type point struct {
		id       uint64
		gathered time.Time
	}
	var sets []point
	for id, at := range gathered {
		sets = append(sets, point{id, at})
	}
	slices.SortFunc(sets, func(x, y point) int { return x.gathered.Compare(y.gathered) })
	shippedAt := func(id uint64) (time.Time, bool) {
		var best time.Time
		for sid, at := range shipped {
			if sid >= id && (best.IsZero() || at.Before(best)) {
				best = at
			}
		}
		return best, !best.IsZero()
	}
	var lags []time.Duration
	for _, c := range commits {
		i, _ := slices.BinarySearchFunc(sets, c, func(p point, t time.Time) int { return p.gathered.Compare(t) })
		if i == len(sets) {
			continue
		}
		if at, ok := shippedAt(sets[i].id); ok {
			lags = append(lags, at.Sub(c))
		}
	}
	if len(lags) == 0 {
		b.Fatal("no commit was seen shipped")
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(len(lags))/float64(len(commits)), "measured-share")
}
