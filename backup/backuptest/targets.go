package backuptest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// NewTarget returns an empty target that deletes (not an immutable
// one): the suite damages objects by deleting and writing them again.
type NewTarget func(t *testing.T) backup.Target

// RunTargetTests checks, on a target, that Backups finds damage and
// never passes a check that checked nothing.
func RunTargetTests(t *testing.T, newTarget NewTarget) {
	tests := []struct {
		name string
		fn   func(t *testing.T, target backup.Target)
	}{
		{"CatalogNeverEmptyWhileTargetHoldsBackups", testCatalogNeverEmpty},
		{"PanicLeavesNothing", testPanicLeavesNothing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newTarget(t)) })
	}
}

// newCipher returns a Cipher under a new keyring's key.
func newCipher(t *testing.T) backup.Cipher {
	t.Helper()
	st := cryptomem.New()
	keys, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), st, st, skcrypto.Options{})
	require.NoError(t, err)
	return backup.KeyringCipher(keys, "acme")
}

// newBackups returns Backups on target under a new keyring's key.
func newBackups(t *testing.T, target backup.Target) *backup.Backups {
	t.Helper()
	b, err := backup.New(newCipher(t), []backup.Target{target}, backup.Options{TenantID: "acme"})
	require.NoError(t, err)
	return b
}

// run backs data up.
func run(t *testing.T, b *backup.Backups, data string) *backup.Manifest {
	t.Helper()
	m, err := b.Run(context.Background(), backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(data)), nil
	}))
	require.NoError(t, err)
	return m
}

// rewrite replaces an object's content with what edit makes of it.
func rewrite(t *testing.T, target backup.Target, name string, edit func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	rc, err := target.Get(ctx, name)
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.NoError(t, target.Delete(ctx, name))
	require.NoError(t, target.Put(ctx, name, bytes.NewReader(edit(data))))
}

// testCatalogNeverEmpty: manifests listed of which none can be read
// are an error of the catalog and of Prune, not an empty catalog;
// VerifySubset fails the damaged backup, and verifies an empty target
// only with an error.
func testCatalogNeverEmpty(t *testing.T, target backup.Target) {
	ctx := context.Background()
	b := newBackups(t, target)
	_, err := b.VerifySubset(ctx, 0, 1)
	assert.ErrorIs(t, err, backup.ErrNotFound, "nothing to verify is not a pass")

	m := run(t, b, "ledger")
	rewrite(t, target, "manifests/"+m.ID+".json", func([]byte) []byte { return []byte("{not json") })
	_, err = b.Manifests(ctx)
	assert.ErrorIs(t, err, backup.ErrCorrupt)
	assert.ErrorContains(t, err, m.ID)
	_, err = b.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
	assert.ErrorIs(t, err, backup.ErrCorrupt)
	checked, err := b.VerifySubset(ctx, 0, 1)
	assert.Equal(t, []string{m.ID}, checked)
	assert.ErrorIs(t, err, backup.ErrCorrupt)

	// Beside a readable backup, the catalog lists that one, and
	// VerifySubset still fails the damaged one.
	other := run(t, b, "another ledger")
	all, err := b.Manifests(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, other.ID, all[0].ID)
	_, err = b.VerifySubset(ctx, 0, 1)
	assert.ErrorIs(t, err, backup.ErrCorrupt)
}

// putsDone counts the Puts that returned.
type putsDone struct {
	backup.Target
	done atomic.Int32
}

func (p *putsDone) Put(ctx context.Context, name string, r io.Reader) error {
	defer p.done.Add(1)
	return p.Target.Put(ctx, name, r)
}

// panicCipher starts the stream, header and all, then panics.
type panicCipher struct{ backup.Cipher }

func (c panicCipher) EncryptStream(ctx context.Context, w io.Writer, ad []byte) (io.WriteCloser, error) {
	if _, err := c.Cipher.EncryptStream(ctx, w, ad); err != nil {
		return nil, err
	}
	panic("cipher bug")
}

// panicReader gives some bytes, then panics.
type panicReader struct{ n int }

func (r *panicReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		n := min(len(p), r.n)
		r.n -= n
		return n, nil
	}
	panic("source bug")
}

// testPanicLeavesNothing: a Source or Cipher that panics in the middle
// of a Run makes Run panic, having stopped every write (each Put
// returned) and left nothing on the target.
func testPanicLeavesNothing(t *testing.T, target backup.Target) {
	ctx := context.Background()
	cipher := newCipher(t)
	panicking := backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&panicReader{n: 3 << 20}), nil
	})
	for _, tc := range []struct {
		name   string
		cipher backup.Cipher
		src    backup.Source
	}{
		{"source", cipher, panicking},
		{"cipher", panicCipher{cipher}, backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("ledger")), nil
		})},
	} {
		counted := &putsDone{Target: target}
		b, err := backup.New(tc.cipher, []backup.Target{counted}, backup.Options{})
		require.NoError(t, err)
		assert.Panics(t, func() { _, _ = b.Run(ctx, tc.src) }, tc.name)
		assert.EqualValues(t, 1, counted.done.Load(), "%s: the write to the target stopped", tc.name)
		names, err := target.List(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, names, "%s: nothing is left", tc.name)
	}
}
