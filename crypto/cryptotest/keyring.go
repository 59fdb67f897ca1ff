package cryptotest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
)

// RootKey is a root AEAD for tests that counts its calls and can be made
// to fail, like a KMS that goes away.
type RootKey struct {
	AEAD  tink.AEAD
	calls atomic.Int64
	down  atomic.Bool
}

// NewRootKey returns a RootKey backed by Tink's fake KMS.
func NewRootKey(t testing.TB) *RootKey {
	t.Helper()
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	a, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	return &RootKey{AEAD: a}
}

// Calls returns how many times the root key was called.
func (r *RootKey) Calls() int64 { return r.calls.Load() }

// SetDown makes every later call fail (true) or work again (false).
func (r *RootKey) SetDown(down bool) { r.down.Store(down) }

var errKMSDown = errors.New("kms unreachable")

// Encrypt implements tink.AEAD.
func (r *RootKey) Encrypt(pt, ad []byte) ([]byte, error) {
	r.calls.Add(1)
	if r.down.Load() {
		return nil, errKMSDown
	}
	return r.AEAD.Encrypt(pt, ad)
}

// Decrypt implements tink.AEAD.
func (r *RootKey) Decrypt(ct, ad []byte) ([]byte, error) {
	r.calls.Add(1)
	if r.down.Load() {
		return nil, errKMSDown
	}
	return r.AEAD.Decrypt(ct, ad)
}

// RunKeyringTests checks the keyring's promises on top of an adapter:
// isolation, rotation, shredding and restores.
func RunKeyringTests(t *testing.T, newStores NewStores) {
	type env struct {
		ks   skcrypto.KeyStore
		ts   skcrypto.Tombstones
		root *RootKey
	}
	newEnv := func(t *testing.T) env {
		ks, ts := newStores(t)
		return env{ks, ts, NewRootKey(t)}
	}
	open := func(t *testing.T, e env, opts skcrypto.Options) *skcrypto.Keyring {
		k, err := skcrypto.NewKeyring(e.root, e.ks, e.ts, opts)
		require.NoError(t, err)
		return k
	}
	newKeyring := func(t *testing.T, opts skcrypto.Options) (*skcrypto.Keyring, skcrypto.KeyStore, *RootKey) {
		e := newEnv(t)
		return open(t, e, opts), e.ks, e.root
	}
	ctx := context.Background()
	acme, alice, bob := skcrypto.Scope{Tenant: "acme"}, skcrypto.Scope{Tenant: "acme", Subject: "alice"}, skcrypto.Scope{Tenant: "acme", Subject: "bob"}
	globex := skcrypto.Scope{Tenant: "globex"}

	t.Run("ScopesAreBound", func(t *testing.T) {
		k, _, _ := newKeyring(t, skcrypto.Options{})
		for _, s := range []skcrypto.Scope{acme, alice, globex} {
			ct, err := k.Encrypt(ctx, s, []byte("secret of "+s.Tenant+s.Subject), []byte("row-1"))
			require.NoError(t, err)
			pt, err := k.Decrypt(ctx, s, ct, []byte("row-1"))
			require.NoError(t, err)
			assert.Equal(t, "secret of "+s.Tenant+s.Subject, string(pt))
			for _, other := range []skcrypto.Scope{acme, alice, bob, globex} {
				if other != s {
					_, err := k.Decrypt(ctx, other, ct, []byte("row-1"))
					assert.ErrorIs(t, err, skcrypto.ErrDecrypt, "%v opened %v's ciphertext", other, s)
				}
			}
			_, err = k.Decrypt(ctx, s, ct, []byte("row-2"))
			assert.ErrorIs(t, err, skcrypto.ErrDecrypt, "other associated data")
		}
	})

	t.Run("RotateRewrapRetire", func(t *testing.T) {
		e := newEnv(t)
		k := open(t, e, skcrypto.Options{})
		old, err := k.Encrypt(ctx, alice, []byte("before rotation"), nil)
		require.NoError(t, err)
		v, err := k.RotateKEK(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, 2, v)
		fresh, err := k.Encrypt(ctx, alice, []byte("after rotation"), nil)
		require.NoError(t, err)

		err = k.SetMinDecryptionVersion(ctx, "acme", 2)
		assert.ErrorIs(t, err, skcrypto.ErrInvalid, "retiring before rewrap would lose data")
		n, err := k.Rewrap(ctx, "acme")
		require.NoError(t, err)
		assert.Positive(t, n)
		require.NoError(t, k.SetMinDecryptionVersion(ctx, "acme", 2))

		// This keyring, and one that starts cold (a new process), read both.
		for _, kr := range []*skcrypto.Keyring{k, open(t, e, skcrypto.Options{})} {
			for ct, want := range map[*[]byte]string{&old: "before rotation", &fresh: "after rotation"} {
				pt, err := kr.Decrypt(ctx, alice, *ct, nil)
				require.NoError(t, err)
				assert.Equal(t, want, string(pt))
			}
		}
		info, err := k.KEK(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, 2, info.Primary)
		assert.Equal(t, 2, info.MinDecryptionVersion)
		require.Len(t, info.Versions, 2)
		assert.False(t, info.Versions[0].Enabled)
	})

	t.Run("ShredSubjectSurvivesRestore", func(t *testing.T) {
		k, ks, _ := newKeyring(t, skcrypto.Options{})
		aliceCT, err := k.Encrypt(ctx, alice, []byte("alice's email"), nil)
		require.NoError(t, err)
		bobCT, err := k.Encrypt(ctx, bob, []byte("bob's email"), nil)
		require.NoError(t, err)
		tenantCT, err := k.Encrypt(ctx, acme, []byte("invoice"), nil)
		require.NoError(t, err)
		backup, err := ks.List(ctx, "acme", skcrypto.Filter{})
		require.NoError(t, err)

		ev, err := k.ShredSubject(ctx, "acme", "alice")
		require.NoError(t, err)
		assert.NotEmpty(t, ev.KeyIDs)
		assert.Equal(t, "alice", ev.Subject)
		assert.False(t, ev.At.IsZero())

		_, err = k.Decrypt(ctx, alice, aliceCT, nil)
		assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)
		pt, err := k.Decrypt(ctx, bob, bobCT, nil)
		require.NoError(t, err, "another subject's data went too")
		assert.Equal(t, "bob's email", string(pt))
		_, err = k.Decrypt(ctx, acme, tenantCT, nil)
		require.NoError(t, err)

		// Restoring the key store from the old backup does not bring alice back.
		restore(t, ks, backup)
		_, err = k.Decrypt(ctx, alice, aliceCT, nil)
		assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)
		// New data for the subject gets a new key and works.
		again, err := k.Encrypt(ctx, alice, []byte("new data"), nil)
		require.NoError(t, err)
		_, err = k.Decrypt(ctx, alice, again, nil)
		assert.NoError(t, err)
	})

	t.Run("ShredTenant", func(t *testing.T) {
		k, ks, _ := newKeyring(t, skcrypto.Options{})
		ct, err := k.Encrypt(ctx, alice, []byte("x"), nil)
		require.NoError(t, err)
		det, err := k.EncryptDeterministic(ctx, "acme", "email", []byte("a@acme.example"))
		require.NoError(t, err)
		other, err := k.Encrypt(ctx, globex, []byte("y"), nil)
		require.NoError(t, err)
		backup, err := ks.List(ctx, "acme", skcrypto.Filter{})
		require.NoError(t, err)

		ev, err := k.ShredTenant(ctx, "acme")
		require.NoError(t, err)
		assert.Contains(t, ev.KeyIDs, "kek")
		restore(t, ks, backup)
		_, err = k.Decrypt(ctx, alice, ct, nil)
		assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)
		_, err = k.DecryptDeterministic(ctx, "acme", "email", det)
		assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)
		_, err = k.Encrypt(ctx, acme, []byte("z"), nil)
		assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed, "a shredded tenant got new keys")
		_, err = k.Decrypt(ctx, globex, other, nil)
		assert.NoError(t, err, "another tenant's data went too")
	})

	t.Run("RotationUnderLoadNeverFailsADecrypt", func(t *testing.T) {
		k, _, _ := newKeyring(t, skcrypto.Options{DataKeyMaxMessages: 50})
		var wg sync.WaitGroup
		var ops, quit atomic.Int64
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				defer quit.Add(1)
				s := []skcrypto.Scope{acme, alice}[w%2]
				for {
					select {
					case <-stop:
						return
					default:
					}
					ct, err := k.Encrypt(ctx, s, []byte("payload"), nil)
					if !assert.NoError(t, err) {
						return
					}
					_, err = k.Decrypt(ctx, s, ct, nil)
					if !assert.NoError(t, err, "decrypt failed during rotation") {
						return
					}
					ops.Add(1)
				}
			})
		}
		for range 5 {
			_, err := k.RotateKEK(ctx, "acme")
			require.NoError(t, err)
			_, err = k.Rewrap(ctx, "acme")
			require.NoError(t, err)
			// Let the workers run between rotations (unless they all failed).
			for before := ops.Load(); ops.Load() < before+100 && quit.Load() < 4; {
				runtime.Gosched()
			}
		}
		close(stop)
		wg.Wait()
	})
}

// restore puts back records from a key-store backup taken earlier.
func restore(t *testing.T, ks skcrypto.KeyStore, backup []*skcrypto.KeyRecord) {
	t.Helper()
	ctx := context.Background()
	for _, r := range backup {
		require.NoError(t, ks.Delete(ctx, r.TenantID, []string{r.ID}))
		c := *r
		require.NoError(t, ks.Create(ctx, &c))
	}
}
