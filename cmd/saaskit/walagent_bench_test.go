package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/saaskit/saaskit/crypto/localkms"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkWALPush measures what archive_command costs per 16 MiB WAL
// segment, with the root keyset's default KDF (Argon2id, 3 passes, 64
// MiB, 4 threads), in one run: wal-push opening the repository itself
// (each run derives the root key from the passphrase), wal-push handing
// the segment to a WAL agent, and the limit, PushWAL on a repository
// already open; the wal-push cases both run in this process and as
// PostgreSQL runs them, a new process of the built command per segment.
// Each push archives a new segment name to a directory target.
func BenchmarkWALPush(b *testing.B) {
	const passphrase = "correct horse battery staple"
	data := b.TempDir()
	kms, err := localkms.New([]byte(passphrase), localkms.Options{Create: true}) // the default cost
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kms.GetAEAD(localkms.NewKeyURI(filepath.Join(data, "root.keyset"))); err != nil {
		b.Fatal(err)
	}
	b.Setenv("SAASKIT_ROOT_PASSPHRASE", passphrase)
	b.Setenv("SAASKIT_DATABASE_URL", "")
	b.Setenv("SAASKIT_DATA", data)
	b.Setenv("SAASKIT_BACKUP_TARGET", filepath.Join(b.TempDir(), "repo"))
	b.Setenv("SAASKIT_WAL_AGENT", "")

	// A segment as PostgreSQL leaves them: records, then zeros.
	walDir := b.TempDir()
	seg := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range seg[:len(seg)/2] {
		seg[i] = byte(rng.IntN(256))
	}
	orig := filepath.Join(walDir, "segment")
	if err := os.WriteFile(orig, seg, 0o600); err != nil {
		b.Fatal(err)
	}
	n := 0
	next := func(b *testing.B) string { // a new segment name, outside the timer
		b.StopTimer()
		defer b.StartTimer()
		n++
		p := filepath.Join(walDir, fmt.Sprintf("%024X", n))
		if err := os.Link(orig, p); err != nil {
			b.Fatal(err)
		}
		return p
	}
	push := func(b *testing.B) {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"backup", "wal-push", next(b)}, strings.NewReader(""), &out, &errOut); err != nil {
			b.Fatal(err, errOut.String())
		}
	}

	var bin string
	binDir := b.TempDir()
	exe := func(b *testing.B) {
		if bin == "" {
			bin = filepath.Join(binDir, "saaskit")
			if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
		}
		if out, err := exec.Command(bin, "backup", "wal-push", next(b)).CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
	}

	b.Run("process-wal-push-alone", func(b *testing.B) {
		exe(b) // builds the command, then pushes once: not timed
		b.ReportAllocs()
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			exe(b)
		}
	})
	b.Run("process-wal-push-via-agent", func(b *testing.B) {
		stop := startAgent(b, filepath.Join(data, walAgentSocket))
		defer stop()
		exe(b)
		b.ReportAllocs()
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			exe(b)
		}
	})
	b.Run("wal-push-alone", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			push(b)
		}
	})
	b.Run("wal-push-via-agent", func(b *testing.B) {
		stop := startAgent(b, filepath.Join(data, walAgentSocket))
		defer stop()
		b.ReportAllocs()
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			push(b)
		}
	})
	b.Run("limit-PushWAL-open-repository", func(b *testing.B) {
		c := &cli{svc: service{data: data}, stderr: os.Stderr}
		repo, closeRepo, err := c.openBackups(context.Background(), &backupFlags{target: os.Getenv("SAASKIT_BACKUP_TARGET"), tenant: "platform"})
		if err != nil {
			b.Fatal(err)
		}
		defer closeRepo()
		b.ReportAllocs()
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			if err := repo.PushWAL(context.Background(), next(b)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
