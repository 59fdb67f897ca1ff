package replicate

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// giBFixture is a 1 GiB SQLite database, backed up whole once
// (Backups.Run of SQLiteSource) and replicated continuously (the first
// sync ships every page, then 1% of the rows change in 100
// transactions on either side of the moment at), built once per test
// binary: it takes minutes.
type giBFixture struct {
	dir      string
	path     string // the database
	size     int64
	cipher   backup.Cipher
	full     *backup.Backups
	fullID   string
	replica  []backup.Target
	prefix   string
	at       time.Time
	atMarker int64 // the body length of row 1 as it was at at
	err      error
}

var (
	giBOnce sync.Once
	giB     *giBFixture
)

// cleanupBenchFixtures removes what the benchmarks built; TestMain
// calls it.
func cleanupBenchFixtures() {
	if giB != nil {
		os.RemoveAll(giB.dir)
	}
}

const (
	giBRowSize = 4000 // about a 4 KiB page each
	giBRows    = 1 << 30 / 4096
)

// giBRow is row n's body: random bytes, then text-like, in turn.
func giBRow(rng *rand.Rand, n int) []byte {
	body := make([]byte, giBRowSize)
	for i := range body {
		if n%2 == 0 {
			body[i] = byte(rng.Uint32())
		} else {
			body[i] = 'a' + byte(rng.IntN(26))
		}
	}
	return body
}

func buildGiB(b *testing.B) *giBFixture {
	giBOnce.Do(func() {
		giB = &giBFixture{}
		giB.err = giB.build(b)
	})
	if giB.err != nil {
		b.Fatal(giB.err)
	}
	return giB
}

func (f *giBFixture) build(b *testing.B) error {
	ctx := context.Background()
	var err error
	if f.dir, err = os.MkdirTemp("", "saaskit-restore-bench-"); err != nil {
		return err
	}
	f.path = filepath.Join(f.dir, "app.db")
	f.cipher = newBenchCipher(b)
	db, err := sqldb.Open(ctx, "sqlite:"+f.path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, body BLOB NOT NULL)"); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < giBRows; start += 4096 {
		err := inTx(db.DB, func(tx *sql.Tx) error {
			for n := start; n < min(start+4096, giBRows); n++ {
				if _, err := tx.Exec("INSERT INTO rows (n, body) VALUES (?, ?)", n, giBRow(rng, n)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}

	// The whole database, backed up once.
	fullTarget, err := backup.NewDirTarget(filepath.Join(f.dir, "full"))
	if err != nil {
		return err
	}
	if f.full, err = backup.New(f.cipher, []backup.Target{fullTarget}, backup.Options{}); err != nil {
		return err
	}
	m, err := f.full.Run(ctx, backup.SQLiteSource("app", db.DB, f.dir))
	if err != nil {
		return err
	}
	f.fullID, f.size = m.ID, m.PlainSize

	// Replicated: every page, then 1% of the rows changed in 100
	// transactions, half before at, half after.
	replica, err := backup.NewDirTarget(filepath.Join(f.dir, "replica"))
	if err != nil {
		return err
	}
	f.replica, f.prefix = []backup.Target{replica}, "replica/app.db/"
	r, err := Start(ctx, f.path, f.cipher, f.replica, Options{Prefix: f.prefix, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := r.Sync(ctx); err != nil {
		return err
	}
	change := func(round int) error {
		return inTx(db.DB, func(tx *sql.Tx) error {
			for range giBRows / 100 / 100 {
				n := rng.IntN(giBRows)
				if _, err := tx.Exec("UPDATE rows SET body = ? WHERE n = ?", giBRow(rng, n), n); err != nil {
					return err
				}
			}
			_, err := tx.Exec("UPDATE rows SET body = zeroblob(?) WHERE n = 1", round+1)
			return err
		})
	}
	for round := range 100 {
		if err := change(round); err != nil {
			return err
		}
		if round%10 == 9 {
			if err := r.Sync(ctx); err != nil {
				return err
			}
		}
		if round == 49 {
			f.at, f.atMarker = time.Now(), int64(round+1)
		}
	}
	if err := r.Sync(ctx); err != nil {
		return err
	}
	db.Close()
	if err := r.Close(ctx); err != nil {
		return err
	}
	// The restore to at holds what was committed by then, not after.
	out := filepath.Join(f.dir, "check.db")
	if err := Restore(ctx, f.cipher, f.replica, f.prefix, out, f.at); err != nil {
		return err
	}
	defer os.Remove(out)
	rdb, err := sql.Open("sqlite", out)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var marker int64
	if err := rdb.QueryRow("SELECT length(body) FROM rows WHERE n = 1").Scan(&marker); err != nil {
		return err
	}
	if marker != f.atMarker {
		return errors.New("the restore to the moment does not hold that moment's change")
	}
	return nil
}

func inTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// BenchmarkRestoreGiB restores a 1 GiB SQLite database three ways, in
// one run: as it was at a moment from continuous replication (the
// shipped pages and the changes after them, replayed to the moment,
// then Litestream's quick integrity check), from a full backup of it
// (decrypted, decompressed, hashed and checked against its manifest),
// and, the limit, a plain copy of the database file. Each writes a new
// file, synced. The fixture takes minutes to build, once per binary.
func BenchmarkRestoreGiB(b *testing.B) {
	f := buildGiB(b)
	ctx := context.Background()
	restore := func(b *testing.B, fn func(out string) error) {
		b.SetBytes(f.size)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			out := filepath.Join(f.dir, "restored.db")
			if err := fn(out); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			for _, p := range []string{out, out + "-wal", out + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
	}
	b.Run("point-in-time", func(b *testing.B) {
		restore(b, func(out string) error { return Restore(ctx, f.cipher, f.replica, f.prefix, out, f.at) })
	})
	b.Run("full-copy", func(b *testing.B) {
		restore(b, func(out string) error { return f.full.RestoreFile(ctx, f.fullID, out) })
	})
	b.Run("limit-file-copy", func(b *testing.B) {
		restore(b, func(out string) error {
			in, err := os.Open(f.path)
			if err != nil {
				return err
			}
			defer in.Close()
			w, err := os.Create(out)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, in)
			return errors.Join(err, w.Sync(), w.Close())
		})
	})
}

// CleanupBenchFixtures is cleanupBenchFixtures, for TestMain (in the
// external test package).
var CleanupBenchFixtures = cleanupBenchFixtures
