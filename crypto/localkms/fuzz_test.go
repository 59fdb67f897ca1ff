package localkms

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen writes fuzzed bytes as a keyset file and opens it: it must
// error, never panic, unless the bytes are a valid file for the
// passphrase, whose AEAD must then work. With fixSum the trailing
// checksum is recomputed, so mutations reach the KDF parameters, the
// passphrase check and the keyset decryption behind it.
func FuzzOpen(f *testing.F) {
	passphrase := []byte("fuzzing passphrase 0123456789")
	c, err := New(passphrase, Options{Create: true, Time: 1, Memory: 64})
	if err != nil {
		f.Fatal(err)
	}
	// Keep fuzzed KDF parameters cheap: at most 2 passes over 256 KiB.
	c.limits = kdfParams{time: 2, memory: 256, threads: 32}

	seedPath := filepath.Join(f.TempDir(), "seed.keyset")
	if _, err := c.GetAEAD(NewKeyURI(seedPath)); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(seedPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add([]byte{}, false)
	f.Add([]byte(magic), true)
	f.Add(valid[:minFileLen], true)

	open := &Client{passphrase: c.passphrase, opts: Options{Time: 1, Memory: 64, Threads: 1}, limits: c.limits}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, fixSum bool) {
		if fixSum && len(data) >= sha256.Size {
			sum := sha256.Sum256(data[:len(data)-sha256.Size])
			data = append(data[:len(data)-sha256.Size:len(data)-sha256.Size], sum[:]...)
		}
		path := filepath.Join(dir, "k.keyset")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := open.GetAEAD(NewKeyURI(path))
		if err != nil {
			return
		}
		ct, err := a.Encrypt([]byte("x"), nil)
		if err != nil {
			t.Fatalf("opened file's AEAD cannot encrypt: %v", err)
		}
		if _, err := a.Decrypt(ct, nil); err != nil {
			t.Fatalf("opened file's AEAD cannot decrypt: %v", err)
		}
	})
}
