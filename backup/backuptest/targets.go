package backuptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		{"ManifestIsAuthenticated", testManifestAuthenticated},
		{"UnsealedManifests", testUnsealedManifests},
		{"ManifestSurvivesKeyRotation", testKeyRotation},
		{"DamageNamesBackupTargetAndOffset", testDamageNamed},
		{"WrongKeyIsNotCorruption", testWrongKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newTarget(t)) })
	}
}

// newKeyring returns a new keyring, its root key and its store.
func newKeyring(t *testing.T) (*skcrypto.Keyring, *cryptotest.RootKey, *cryptomem.Store) {
	t.Helper()
	st := cryptomem.New()
	root := cryptotest.NewRootKey(t)
	keys, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	require.NoError(t, err)
	return keys, root, st
}

// newCipher returns a Cipher under a new keyring's key.
func newCipher(t *testing.T) backup.Cipher {
	t.Helper()
	keys, _, _ := newKeyring(t)
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

// manifestName is backup id's manifest object.
func manifestName(id string) string { return "manifests/" + id + ".json" }

// editManifest rewrites backup id's stored manifest on target, edit
// changing its members; the seal stays as it was unless edit changes it.
func editManifest(t *testing.T, target backup.Target, id string, edit func(map[string]any)) {
	t.Helper()
	rewrite(t, target, manifestName(id), func(data []byte) []byte {
		var members map[string]any
		require.NoError(t, json.Unmarshal(data, &members))
		edit(members)
		out, err := json.MarshalIndent(members, "", "  ")
		require.NoError(t, err)
		return out
	})
}

// testManifestAuthenticated: a manifest edited in any member (its
// source relabelled, a member added, its seal taken from another
// backup) is refused by Verify, Restore, the catalog and At, wrapping
// ErrCorrupt; the untouched manifest verifies.
func testManifestAuthenticated(t *testing.T, target backup.Target) {
	ctx := context.Background()
	b := newBackups(t, target)
	m := run(t, b, "ledger")
	other := run(t, b, "another ledger")
	require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll))
	var stored map[string]any
	rc, err := target.Get(ctx, manifestName(other.ID))
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(rc).Decode(&stored))
	rc.Close()

	for _, tc := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"source relabelled", func(m map[string]any) { m["source"] = "payroll" }},
		{"tenant changed", func(m map[string]any) { m["tenant_id"] = "globex" }},
		{"member added", func(m map[string]any) { m["Source"] = "payroll" }},
		{"tags added", func(m map[string]any) { m["tags"] = []string{"keep-forever"} }},
		{"seal of another backup", func(m map[string]any) { m["seal"] = stored["seal"] }},
		{"seal removed", func(m map[string]any) { delete(m, "seal") }},
	} {
		rc, err := target.Get(ctx, manifestName(m.ID))
		require.NoError(t, err)
		original, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		editManifest(t, target, m.ID, tc.edit)

		err = b.Verify(ctx, m.ID, backup.CheckReadAll)
		assert.ErrorIs(t, err, backup.ErrCorrupt, tc.name)
		assert.ErrorContains(t, err, m.ID, tc.name)
		assert.ErrorContains(t, err, target.Name(), tc.name)
		assert.ErrorIs(t, b.Restore(ctx, m.ID, io.Discard), backup.ErrCorrupt, tc.name)
		all, err := b.Manifests(ctx)
		require.NoError(t, err, tc.name)
		require.Len(t, all, 1, tc.name)
		assert.Equal(t, other.ID, all[0].ID, "%s: the edited manifest is not in the catalog", tc.name)
		_, err = b.At(ctx, "payroll", time.Now().Add(time.Hour))
		assert.ErrorIs(t, err, backup.ErrNotFound, "%s: a relabelled backup is not found for the other source", tc.name)

		rewrite(t, target, manifestName(m.ID), func([]byte) []byte { return original })
		require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll), "%s: restored as written", tc.name)
	}
}

// testUnsealedManifests: a manifest without a seal (as written before
// manifests were sealed) is refused by default, and accepted for
// backups started before Options.UnsealedBefore; a seal present is
// always checked.
func testUnsealedManifests(t *testing.T, target backup.Target) {
	ctx := context.Background()
	cipher := newCipher(t)
	made := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	old, err := backup.New(cipher, []backup.Target{target}, backup.Options{Now: func() time.Time { return made }})
	require.NoError(t, err)
	legacy := run(t, old, "ledger of old")
	sealed := run(t, old, "ledger sealed")
	editManifest(t, target, legacy.ID, func(m map[string]any) { delete(m, "seal") })
	editManifest(t, target, sealed.ID, func(m map[string]any) { m["source"] = "payroll" })

	err = old.Verify(ctx, legacy.ID, backup.CheckReadAll)
	assert.ErrorIs(t, err, backup.ErrCorrupt)
	assert.ErrorContains(t, err, "Options.UnsealedBefore")

	for _, cutoff := range []time.Time{made, made.Add(-time.Hour)} {
		b, err := backup.New(cipher, []backup.Target{target}, backup.Options{UnsealedBefore: cutoff})
		require.NoError(t, err)
		assert.ErrorIs(t, b.Verify(ctx, legacy.ID, backup.CheckReadAll), backup.ErrCorrupt, "started at or after the cutoff: refused")
	}
	b, err := backup.New(cipher, []backup.Target{target}, backup.Options{UnsealedBefore: made.Add(time.Second)})
	require.NoError(t, err)
	require.NoError(t, b.Verify(ctx, legacy.ID, backup.CheckReadAll), "an unsealed manifest of an older backup")
	var out bytes.Buffer
	require.NoError(t, b.Restore(ctx, legacy.ID, &out))
	assert.Equal(t, "ledger of old", out.String())
	assert.ErrorIs(t, b.Verify(ctx, sealed.ID, backup.CheckReadAll), backup.ErrCorrupt, "a sealed manifest is checked whatever the cutoff")
}

// testKeyRotation: after the backup key's KEK is rotated and the keys
// rewrapped, backups made before and after verify and restore, their
// manifests included, through a keyring opened afresh.
func testKeyRotation(t *testing.T, target backup.Target) {
	ctx := context.Background()
	keys, root, st := newKeyring(t)
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{target}, backup.Options{})
	require.NoError(t, err)
	before := run(t, b, "ledger before")
	_, err = keys.RotateKEK(ctx, "backup/acme")
	require.NoError(t, err)
	_, err = keys.Rewrap(ctx, "backup/acme")
	require.NoError(t, err)
	after := run(t, b, "ledger after")

	fresh, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	require.NoError(t, err)
	again, err := backup.New(backup.KeyringCipher(fresh, "acme"), []backup.Target{target}, backup.Options{})
	require.NoError(t, err)
	for _, m := range []*backup.Manifest{before, after} {
		require.NoError(t, again.Verify(ctx, m.ID, backup.CheckReadAll))
	}
	all, err := again.Manifests(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 2)
}

// testDamageNamed: a copy damaged anywhere (its header's first bytes
// flipped, cut to nothing or to a byte, flipped or cut in the middle,
// bytes appended) fails Verify and Restore with an error wrapping
// ErrCorrupt that names the backup, the target and the stored byte.
func testDamageNamed(t *testing.T, target backup.Target) {
	ctx := context.Background()
	b := newBackups(t, target)
	m := run(t, b, strings.Repeat("the ledger of 2026 ", 100_000))
	data := "data/" + m.ID
	rc, err := target.Get(ctx, data)
	require.NoError(t, err)
	intact, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0xff; return b }
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"byte 0 flipped", flip(0)},
		{"byte 1 flipped", flip(1)},
		{"byte 2 flipped", flip(2)},
		{"cut to 0 bytes", cut(0)},
		{"cut to 1 byte", cut(1)},
		{"byte in the middle flipped", flip(len(intact) / 2)},
		{"cut in the middle", cut(len(intact) / 2)},
		{"bytes appended", func(b []byte) []byte { return append(b, "more"...) }},
	} {
		rewrite(t, target, data, tc.damage)
		for op, err := range map[string]error{
			"verify":  b.Verify(ctx, m.ID, backup.CheckReadAll),
			"restore": b.Restore(ctx, m.ID, io.Discard),
		} {
			require.ErrorIs(t, err, backup.ErrCorrupt, "%s: %s", tc.name, op)
			assert.NotErrorIs(t, err, backup.ErrWrongKey, "%s: %s", tc.name, op)
			assert.ErrorContains(t, err, "backup "+m.ID, "%s: %s", tc.name, op)
			assert.ErrorContains(t, err, target.Name(), "%s: %s", tc.name, op)
			assert.ErrorContains(t, err, "stored byte", "%s: %s", tc.name, op)
		}
		rewrite(t, target, data, func([]byte) []byte { return bytes.Clone(intact) })
	}
	require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll))
}

// testWrongKey: Backups whose key is not the one a backup was made
// with (another keyring under the same tenant, or another tenant's
// key) report ErrWrongKey, not ErrCorrupt, from Verify, Restore and
// the catalog.
func testWrongKey(t *testing.T, target backup.Target) {
	ctx := context.Background()
	m := run(t, newBackups(t, target), "ledger")
	keys, _, _ := newKeyring(t)
	for _, tc := range []struct {
		name   string
		cipher backup.Cipher
		says   string
	}{
		{"another keyring", newCipher(t), "it is not the one the backup was made with"},
		{"another tenant", backup.KeyringCipher(keys, "globex"), "made under key keyring:backup/acme, not keyring:backup/globex"},
	} {
		b, err := backup.New(tc.cipher, []backup.Target{target}, backup.Options{})
		require.NoError(t, err)
		for op, err := range map[string]error{
			"verify":  b.Verify(ctx, m.ID, backup.CheckReadAll),
			"restore": b.Restore(ctx, m.ID, io.Discard),
		} {
			require.ErrorIs(t, err, backup.ErrWrongKey, "%s: %s", tc.name, op)
			assert.NotErrorIs(t, err, backup.ErrCorrupt, "%s: %s", tc.name, op)
			assert.ErrorContains(t, err, m.ID, "%s: %s", tc.name, op)
			assert.ErrorContains(t, err, tc.says, "%s: %s", tc.name, op)
		}
		_, err = b.Manifests(ctx)
		assert.ErrorIs(t, err, backup.ErrWrongKey, tc.name)
	}
}
