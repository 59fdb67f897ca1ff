package localkms_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/crypto/memstore"
)

var passphrase = []byte("correct horse battery staple")

// cheap keeps Argon2id fast in tests.
var cheap = localkms.Options{Create: true, Time: 1, Memory: 64}

func newClient(t *testing.T, opts localkms.Options) *localkms.Client {
	t.Helper()
	c, err := localkms.New(passphrase, opts)
	require.NoError(t, err)
	return c
}

// newKeyset creates a keyset file in a fresh directory and returns its
// URI, path and AEAD.
func newKeyset(t *testing.T) (string, string, tink.AEAD) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.keyset")
	uri := localkms.NewKeyURI(path)
	a, err := newClient(t, cheap).GetAEAD(uri)
	require.NoError(t, err)
	return uri, path, a
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name       string
		passphrase []byte
		opts       localkms.Options
		want       string // "" for success
	}{
		{"nil passphrase", nil, localkms.Options{}, "passphrase must be at least 16 bytes"},
		{"15-byte passphrase", []byte("123456789012345"), localkms.Options{}, "passphrase must be at least 16 bytes"},
		{"16-byte passphrase", []byte("1234567890123456"), localkms.Options{}, ""},
		{"cheap options", passphrase, cheap, ""},
		{"time too high", passphrase, localkms.Options{Time: 33}, "time must be 1 to 32"},
		{"memory too high", passphrase, localkms.Options{Memory: 1<<20 + 1}, "memory must be 8 KiB per thread"},
		{"memory below 8 KiB per thread", passphrase, localkms.Options{Memory: 16, Threads: 4}, "memory must be 8 KiB per thread"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := localkms.New(tt.passphrase, tt.opts)
			if tt.want == "" {
				require.NoError(t, err)
				assert.NotNil(t, c)
				return
			}
			require.ErrorIs(t, err, localkms.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSupported(t *testing.T) {
	c := newClient(t, cheap)
	tests := []struct {
		uri  string
		want bool
	}{
		{"local-kms:///var/lib/svc/root.keyset", true},
		{"local-kms://root.keyset", true},
		{localkms.NewKeyURI("dir/root.keyset"), true},
		{"local-kms://", false},
		{"local-kms://a\x00b", false},
		{"LOCAL-KMS://root.keyset", false},
		{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", false},
		{"/var/lib/svc/root.keyset", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, c.Supported(tt.uri), tt.uri)
	}
	_, err := c.GetAEAD("gcp-kms://x")
	assert.ErrorIs(t, err, localkms.ErrInvalid)
	assert.ErrorIs(t, c.Rotate("local-kms://"), localkms.ErrInvalid)
}

func TestRoundTripAndFileMode(t *testing.T) {
	_, path, a := newKeyset(t)
	ct, err := a.Encrypt([]byte("hello"), []byte("ad"))
	require.NoError(t, err)
	pt, err := a.Decrypt(ct, []byte("ad"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(pt))
	_, err = a.Decrypt(ct, []byte("other ad"))
	assert.Error(t, err)

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(data, []byte("SKLKMS1\n")))
	assert.NotContains(t, string(data), "AesGcmKey", "keyset is encrypted")
}

func TestReopenGivesSameKey(t *testing.T) {
	uri, _, a := newKeyset(t)
	ct, err := a.Encrypt([]byte("kept"), nil)
	require.NoError(t, err)

	// A new client, even one that would not create, opens the same keyset;
	// KDF parameters come from the file, not the options.
	b, err := newClient(t, localkms.Options{}).GetAEAD(uri)
	require.NoError(t, err)
	pt, err := b.Decrypt(ct, nil)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(pt))
}

func TestCreateNeverOverwrites(t *testing.T) {
	uri, path, a := newKeyset(t)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte("x"), nil)
	require.NoError(t, err)

	b, err := newClient(t, cheap).GetAEAD(uri)
	require.NoError(t, err)
	_, err = b.Decrypt(ct, nil)
	require.NoError(t, err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestMissing(t *testing.T) {
	dir := t.TempDir()
	noCreate := newClient(t, localkms.Options{Time: 1, Memory: 64})

	_, err := noCreate.GetAEAD(localkms.NewKeyURI(filepath.Join(dir, "absent.keyset")))
	assert.ErrorIs(t, err, localkms.ErrNotFound)
	_, err = os.Stat(filepath.Join(dir, "absent.keyset"))
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing created without Options.Create")

	_, err = newClient(t, cheap).GetAEAD(localkms.NewKeyURI(filepath.Join(dir, "no", "such", "dir", "k.keyset")))
	assert.ErrorIs(t, err, localkms.ErrNotFound)
	assert.Contains(t, err.Error(), "directory")

	assert.ErrorIs(t, noCreate.Rotate(localkms.NewKeyURI(filepath.Join(dir, "absent.keyset"))), localkms.ErrNotFound)

	_, err = noCreate.GetAEAD(localkms.NewKeyURI(dir))
	assert.ErrorIs(t, err, localkms.ErrCorrupt, "a directory is not a keyset file")
}

func TestWrongPassphrase(t *testing.T) {
	uri, path, _ := newKeyset(t)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	other, err := localkms.New([]byte("not the right passphrase"), cheap)
	require.NoError(t, err)
	_, err = other.GetAEAD(uri)
	require.ErrorIs(t, err, localkms.ErrWrongPassphrase)
	assert.NotErrorIs(t, err, localkms.ErrCorrupt)
	assert.NotContains(t, err.Error(), "not the right passphrase")
	assert.NotContains(t, err.Error(), string(passphrase))

	assert.ErrorIs(t, other.Rotate(uri), localkms.ErrWrongPassphrase)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a failed rotation leaves the file alone")
}

// openBytes writes data as a keyset file and opens it.
func openBytes(t *testing.T, c *localkms.Client, data []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.keyset")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	_, err := c.GetAEAD(localkms.NewKeyURI(path))
	return err
}

// resum recomputes the trailing checksum, so a change reaches the parser
// and the decryption behind it.
func resum(data []byte) []byte {
	if len(data) < sha256.Size {
		return data
	}
	body := data[:len(data)-sha256.Size]
	sum := sha256.Sum256(body)
	return append(bytes.Clone(body), sum[:]...)
}

func TestEverySingleByteCorruption(t *testing.T) {
	_, path, _ := newKeyset(t)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	c := newClient(t, localkms.Options{Time: 1, Memory: 64})
	require.NoError(t, openBytes(t, c, good))

	dir := t.TempDir()
	for i := range good {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(good)
			bad[i] ^= flip
			uri := localkms.NewKeyURI(filepath.Join(dir, "k.keyset"))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "k.keyset"), bad, 0o600))
			_, err := c.GetAEAD(uri)
			require.ErrorIs(t, err, localkms.ErrCorrupt, "byte %d ^ %#x", i, flip)

			// Past the checksum, the AEAD and the parser still refuse it.
			require.NoError(t, os.WriteFile(filepath.Join(dir, "k.keyset"), resum(bad), 0o600))
			_, err = c.GetAEAD(uri)
			if i >= len(good)-sha256.Size {
				require.NoError(t, err, "only the checksum changed")
				continue
			}
			require.Error(t, err, "byte %d ^ %#x with a fixed checksum", i, flip)
			assert.True(t, errors.Is(err, localkms.ErrCorrupt) || errors.Is(err, localkms.ErrWrongPassphrase),
				"byte %d ^ %#x: %v", i, flip, err)
		}
	}
}

func TestTruncationsAndTrailingData(t *testing.T) {
	_, path, _ := newKeyset(t)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	c := newClient(t, localkms.Options{Time: 1, Memory: 64})
	for n := range len(good) {
		assert.ErrorIs(t, openBytes(t, c, good[:n]), localkms.ErrCorrupt, "first %d bytes", n)
	}
	assert.ErrorIs(t, openBytes(t, c, append(bytes.Clone(good), 0)), localkms.ErrCorrupt, "trailing byte")
}

func TestMalformedFiles(t *testing.T) {
	_, path, _ := newKeyset(t)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	c := newClient(t, localkms.Options{Time: 1, Memory: 64})

	withParams := func(time, memory uint32, threads byte) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[9:], time)
		binary.BigEndian.PutUint32(b[13:], memory)
		b[17] = threads
		return resum(b)
	}
	withKDF := func(kdf byte) []byte {
		b := bytes.Clone(good)
		b[8] = kdf
		return resum(b)
	}
	emptyKeyset := append([]byte(nil), good[:66]...)
	emptyKeyset = append(emptyKeyset, 0, 0, 0, 0)
	emptyKeyset = resum(append(emptyKeyset, make([]byte, 32)...))

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"wrong magic", append([]byte("SKLKMS2\n"), good[8:]...), "bad magic"},
		{"other format", []byte(`{"version":1}`), "bad magic"},
		{"magic only", []byte("SKLKMS1\n"), "truncated"},
		{"oversized", append(bytes.Clone(good), make([]byte, 1<<20)...), "1 MiB"},
		{"checksum", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), "checksum mismatch"},
		{"unknown kdf", withKDF(2), "unknown kdf"},
		{"zero time", withParams(0, 64, 4), "time must be"},
		{"huge time", withParams(1<<31, 64, 4), "time must be"},
		{"zero threads", withParams(1, 64, 0), "threads must be"},
		{"huge memory", withParams(1, 0xffffffff, 4), "memory must be"},
		{"memory below threads", withParams(1, 8, 4), "memory must be"},
		{"empty keyset", emptyKeyset, "empty keyset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openBytes(t, c, tt.data)
			require.ErrorIs(t, err, localkms.ErrCorrupt)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestRotate(t *testing.T) {
	uri, path, before := newKeyset(t)
	c := newClient(t, cheap)
	oldCT, err := before.Encrypt([]byte("old"), nil)
	require.NoError(t, err)

	require.NoError(t, c.Rotate(uri))
	after, err := c.GetAEAD(uri)
	require.NoError(t, err)

	pt, err := after.Decrypt(oldCT, nil)
	require.NoError(t, err, "old keys are kept")
	assert.Equal(t, "old", string(pt))

	newCT, err := after.Encrypt([]byte("new"), nil)
	require.NoError(t, err)
	assert.NotEqual(t, oldCT[:5], newCT[:5], "Tink key-ID prefix: the new primary encrypts")
	_, err = before.Decrypt(newCT, nil)
	assert.Error(t, err, "the pre-rotation AEAD lacks the new key")

	require.NoError(t, c.Rotate(uri))
	third, err := newClient(t, localkms.Options{}).GetAEAD(uri)
	require.NoError(t, err)
	for ct, want := range map[string]string{string(oldCT): "old", string(newCT): "new"} {
		pt, err := third.Decrypt([]byte(ct), nil)
		require.NoError(t, err)
		assert.Equal(t, want, string(pt))
	}

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}

func TestConcurrentCreate(t *testing.T) {
	for round := range 8 {
		dir := t.TempDir()
		uri := localkms.NewKeyURI(filepath.Join(dir, "root.keyset"))
		var (
			wg    sync.WaitGroup
			aeads [2]tink.AEAD
			errs  [2]error
		)
		for i := range 2 {
			wg.Go(func() {
				// Separate clients, as two processes would have.
				c, err := localkms.New(passphrase, cheap)
				if err != nil {
					errs[i] = err
					return
				}
				aeads[i], errs[i] = c.GetAEAD(uri)
			})
		}
		wg.Wait()
		require.NoError(t, errs[0], "round %d", round)
		require.NoError(t, errs[1], "round %d", round)

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "round %d: one file, no temporaries", round)

		for i := range 2 {
			ct, err := aeads[i].Encrypt([]byte("shared"), nil)
			require.NoError(t, err)
			pt, err := aeads[1-i].Decrypt(ct, nil)
			require.NoError(t, err, "round %d: AEADs interoperate", round)
			assert.Equal(t, "shared", string(pt))
		}
	}
}

func TestKeyringOverLocalKMS(t *testing.T) {
	ctx := context.Background()
	uri, _, root := newKeyset(t)
	s := memstore.New()
	k, err := skcrypto.NewKeyring(root, s, s, skcrypto.Options{})
	require.NoError(t, err)
	acme := skcrypto.Scope{Tenant: "acme"}
	ct, err := k.Encrypt(ctx, acme, []byte("card 4242"), []byte("payments.card"))
	require.NoError(t, err)
	pt, err := k.Decrypt(ctx, acme, ct, []byte("payments.card"))
	require.NoError(t, err)
	assert.Equal(t, "card 4242", string(pt))

	// A restarted service: a new client on the same file, same store.
	root2, err := newClient(t, localkms.Options{}).GetAEAD(uri)
	require.NoError(t, err)
	k2, err := skcrypto.NewKeyring(root2, s, s, skcrypto.Options{})
	require.NoError(t, err)
	pt, err = k2.Decrypt(ctx, acme, ct, []byte("payments.card"))
	require.NoError(t, err)
	assert.Equal(t, "card 4242", string(pt))
}

func TestErrorsHoldNoPassphrase(t *testing.T) {
	uri, path, _ := newKeyset(t)
	secret := []byte("a secret that must not leak 1234")
	c, err := localkms.New(secret, cheap)
	require.NoError(t, err)
	_, err1 := c.GetAEAD(uri)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, err2 := c.GetAEAD(uri)
	for _, err := range []error{err1, err2, c.Rotate(uri)} {
		require.Error(t, err)
		assert.False(t, strings.Contains(err.Error(), string(secret)), err.Error())
	}
}
