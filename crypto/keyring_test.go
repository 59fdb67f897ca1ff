package crypto_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	"github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
)

type fixture struct {
	k     *skcrypto.Keyring
	store *memstore.Store
	root  *cryptotest.RootKey
	clock *testclock.Clock
}

func newFixture(t testing.TB, opts skcrypto.Options) *fixture {
	f := &fixture{store: memstore.New(), root: cryptotest.NewRootKey(t), clock: testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	k, err := skcrypto.NewKeyring(f.root, f.store, f.store, opts)
	require.NoError(t, err)
	f.k = k
	return f
}

var (
	ctx  = context.Background()
	acme = skcrypto.Scope{Tenant: "acme"}
)

func TestEveryBitFlipIsRejected(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	msg := bytes.Repeat([]byte{0x5a}, 64)
	ct, err := f.k.Encrypt(ctx, acme, msg, []byte("ad"))
	require.NoError(t, err)
	for i := range len(ct) * 8 {
		flipped := bytes.Clone(ct)
		flipped[i/8] ^= 1 << (i % 8)
		_, err := f.k.Decrypt(ctx, acme, flipped, []byte("ad"))
		require.ErrorIs(t, err, skcrypto.ErrDecrypt, "bit %d", i)
	}
	for n := range len(ct) {
		_, err := f.k.Decrypt(ctx, acme, ct[:n], []byte("ad"))
		require.ErrorIs(t, err, skcrypto.ErrDecrypt, "truncated to %d", n)
	}
	for _, extra := range [][]byte{{0}, []byte("trailing")} {
		_, err := f.k.Decrypt(ctx, acme, append(bytes.Clone(ct), extra...), []byte("ad"))
		require.ErrorIs(t, err, skcrypto.ErrDecrypt)
	}
	pt, err := f.k.Decrypt(ctx, acme, ct, []byte("ad"))
	require.NoError(t, err)
	assert.Equal(t, msg, pt)
}

func TestWarmCacheMakesAtMostOneKMSCall(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	for i := range 10000 {
		_, err := f.k.Encrypt(ctx, acme, []byte("message"), nil)
		require.NoError(t, err, "message %d", i)
	}
	assert.LessOrEqual(t, f.root.Calls(), int64(1))
}

func TestDataKeyLimits(t *testing.T) {
	keyOf := func(ct []byte) string { return string(ct[2:18]) }
	t.Run("messages", func(t *testing.T) {
		f := newFixture(t, skcrypto.Options{DataKeyMaxMessages: 3})
		keys := map[string]int{}
		for range 9 {
			ct, err := f.k.Encrypt(ctx, acme, []byte("m"), nil)
			require.NoError(t, err)
			keys[keyOf(ct)]++
		}
		assert.Len(t, keys, 3)
		for _, n := range keys {
			assert.Equal(t, 3, n)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		f := newFixture(t, skcrypto.Options{DataKeyMaxBytes: 100})
		a, _ := f.k.Encrypt(ctx, acme, make([]byte, 60), nil)
		b, _ := f.k.Encrypt(ctx, acme, make([]byte, 30), nil)
		c, _ := f.k.Encrypt(ctx, acme, make([]byte, 30), nil)
		assert.Equal(t, keyOf(a), keyOf(b))
		assert.NotEqual(t, keyOf(b), keyOf(c))
	})
	t.Run("age", func(t *testing.T) {
		f := newFixture(t, skcrypto.Options{DataKeyMaxAge: time.Hour})
		a, _ := f.k.Encrypt(ctx, acme, []byte("m"), nil)
		f.clock.Advance(59 * time.Minute)
		b, _ := f.k.Encrypt(ctx, acme, []byte("m"), nil)
		f.clock.Advance(2 * time.Minute)
		c, _ := f.k.Encrypt(ctx, acme, []byte("m"), nil)
		assert.Equal(t, keyOf(a), keyOf(b))
		assert.NotEqual(t, keyOf(b), keyOf(c))
		for _, ct := range [][]byte{a, b, c} {
			_, err := f.k.Decrypt(ctx, acme, ct, nil)
			require.NoError(t, err)
		}
	})
}

func TestRestartMakesAFreshDataKey(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	a, err := f.k.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	restarted, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{Now: f.clock.Now})
	require.NoError(t, err)
	b, err := restarted.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	assert.NotEqual(t, a[2:18], b[2:18], "usage counts live in memory: a restart must not reuse a key")
	pt, err := restarted.Decrypt(ctx, acme, a, nil)
	require.NoError(t, err)
	assert.Equal(t, "m", string(pt))
}

func TestLimitsHoldWhenTheCacheChurns(t *testing.T) {
	f := newFixture(t, skcrypto.Options{DataKeyMaxMessages: 3, CacheSize: 2})
	uses := map[string]int{}
	for i := range 30 {
		s := skcrypto.Scope{Tenant: "acme", Subject: []string{"a", "b", "c"}[i%3]}
		ct, err := f.k.Encrypt(ctx, s, []byte("m"), nil)
		require.NoError(t, err)
		uses[string(ct[2:18])]++
	}
	for _, n := range uses {
		assert.LessOrEqual(t, n, 3)
	}
}

func TestAutomaticRotation(t *testing.T) {
	f := newFixture(t, skcrypto.Options{RotationPeriod: 24 * time.Hour, DataKeyMaxAge: time.Hour})
	old, err := f.k.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	f.clock.Advance(25 * time.Hour)
	_, err = f.k.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	info, err := f.k.KEK(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, 2, info.Primary)
	_, err = f.k.Decrypt(ctx, acme, old, nil)
	assert.NoError(t, err)
}

func TestKMSDownFailsClosed(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	f.root.SetDown(true)
	ct, err := f.k.Encrypt(ctx, acme, []byte("never stored in the clear"), nil)
	assert.ErrorIs(t, err, skcrypto.ErrKMS)
	assert.Nil(t, ct)

	f.root.SetDown(false)
	ct, err = f.k.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	cold, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{})
	require.NoError(t, err)
	f.root.SetDown(true)
	_, err = cold.Decrypt(ctx, acme, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKMS)
	_, err = f.k.Decrypt(ctx, acme, ct, nil)
	assert.NoError(t, err, "a warm cache keeps serving while the KMS is down")
}

func TestValidation(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	for _, s := range []skcrypto.Scope{{}, {Tenant: strings.Repeat("x", 65)}, {Tenant: "a b"}, {Tenant: "t", Subject: "x\n"}} {
		_, err := f.k.Encrypt(ctx, s, nil, nil)
		assert.ErrorIs(t, err, skcrypto.ErrInvalid, "%q", s)
	}
	_, err := skcrypto.NewKeyring(nil, f.store, f.store, skcrypto.Options{})
	assert.ErrorIs(t, err, skcrypto.ErrInvalid)
	_, err = f.k.ShredSubject(ctx, "acme", "")
	assert.ErrorIs(t, err, skcrypto.ErrInvalid)
	assert.ErrorIs(t, f.k.PromoteKEKVersion(ctx, "acme", 7), skcrypto.ErrInvalid)
	assert.ErrorIs(t, f.k.SetMinDecryptionVersion(ctx, "acme", 0), skcrypto.ErrInvalid)
}

func TestScopeFromContext(t *testing.T) {
	_, err := skcrypto.ScopeFromContext(ctx)
	assert.ErrorIs(t, err, skcrypto.ErrInvalid)
	s, err := skcrypto.ScopeFromContext(tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "acme"}))
	require.NoError(t, err)
	assert.Equal(t, acme, s)
}

func TestDeterministicAndBlindIndex(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	a1, err := f.k.EncryptDeterministic(ctx, "acme", "email", []byte("ada@example.com"))
	require.NoError(t, err)
	a2, _ := f.k.EncryptDeterministic(ctx, "acme", "email", []byte("ada@example.com"))
	other, _ := f.k.EncryptDeterministic(ctx, "acme", "phone", []byte("ada@example.com"))
	g, _ := f.k.EncryptDeterministic(ctx, "globex", "email", []byte("ada@example.com"))
	assert.Equal(t, a1, a2, "equal plaintexts give equal ciphertexts")
	assert.NotEqual(t, a1, other, "columns are separate domains")
	assert.NotEqual(t, a1, g, "tenants have their own keys")
	pt, err := f.k.DecryptDeterministic(ctx, "acme", "email", a1)
	require.NoError(t, err)
	assert.Equal(t, "ada@example.com", string(pt))
	_, err = f.k.DecryptDeterministic(ctx, "globex", "email", a1)
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
	_, err = f.k.DecryptDeterministic(ctx, "acme", "email", []byte{1})
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)

	i1, err := f.k.BlindIndex(ctx, "acme", "email", []byte("ada@example.com"))
	require.NoError(t, err)
	assert.Len(t, i1, skcrypto.BlindIndexSize)
	i2, _ := f.k.BlindIndex(ctx, "acme", "email", []byte("ada@example.com"))
	i3, _ := f.k.BlindIndex(ctx, "acme", "email", []byte("bob@example.com"))
	i4, _ := f.k.BlindIndex(ctx, "globex", "email", []byte("ada@example.com"))
	i5, _ := f.k.BlindIndex(ctx, "acme", "emai", []byte("lada@example.com"))
	assert.Equal(t, i1, i2)
	for _, other := range [][]byte{i3, i4, i5} {
		assert.NotEqual(t, i1, other)
	}
	// A cold keyring over the same store computes the same index.
	cold, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{})
	require.NoError(t, err)
	i6, err := cold.BlindIndex(ctx, "acme", "email", []byte("ada@example.com"))
	require.NoError(t, err)
	assert.Equal(t, i1, i6)
}

func TestStreaming(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	plain := bytes.Repeat([]byte("0123456789abcdef"), 200000) // 3.2 MB: several segments
	var sealed bytes.Buffer
	w, err := f.k.EncryptStream(ctx, "acme", &sealed, []byte("backup-1"))
	require.NoError(t, err)
	_, err = io.Copy(w, bytes.NewReader(plain))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	r, err := f.k.DecryptStream(ctx, "acme", bytes.NewReader(sealed.Bytes()), []byte("backup-1"))
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(plain, got))

	read := func(tenant string, b, ad []byte) error {
		r, err := f.k.DecryptStream(ctx, tenant, bytes.NewReader(b), ad)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(r)
		return err
	}
	tampered := bytes.Clone(sealed.Bytes())
	tampered[len(tampered)/2] ^= 1
	assert.ErrorIs(t, read("acme", tampered, []byte("backup-1")), skcrypto.ErrDecrypt)
	assert.ErrorIs(t, read("acme", sealed.Bytes()[:sealed.Len()-10], []byte("backup-1")), skcrypto.ErrDecrypt)
	assert.ErrorIs(t, read("acme", sealed.Bytes(), []byte("backup-2")), skcrypto.ErrDecrypt)
	assert.ErrorIs(t, read("globex", sealed.Bytes(), []byte("backup-1")), skcrypto.ErrDecrypt)
	assert.ErrorIs(t, read("acme", []byte{1}, nil), skcrypto.ErrDecrypt)

	_, err = f.k.ShredTenant(ctx, "acme")
	require.NoError(t, err)
	assert.ErrorIs(t, read("acme", sealed.Bytes(), []byte("backup-1")), skcrypto.ErrKeyDestroyed)
}

func TestReencryptAll(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	rows := map[string][]byte{}
	for _, id := range []string{"r1", "r2", "r3"} {
		ct, err := f.k.Encrypt(ctx, acme, []byte("value "+id), []byte(id))
		require.NoError(t, err)
		rows[id] = ct
	}
	_, err := f.k.RotateKEK(ctx, "acme")
	require.NoError(t, err)
	n, err := f.k.ReencryptAll(ctx, acme, func(yield func(skcrypto.Row) bool) {
		for _, id := range []string{"r1", "r2", "r3"} {
			if !yield(skcrypto.Row{ID: id, Ciphertext: rows[id], AD: []byte(id)}) {
				return
			}
		}
	}, func(id string, ct []byte) error { rows[id] = ct; return nil })
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	for id, ct := range rows {
		pt, err := f.k.Decrypt(ctx, acme, ct, []byte(id))
		require.NoError(t, err)
		assert.Equal(t, "value "+id, string(pt))
	}
	n, err = f.k.ReencryptAll(ctx, acme, func(yield func(skcrypto.Row) bool) {
		yield(skcrypto.Row{ID: "bad", Ciphertext: []byte("junk")})
	}, func(string, []byte) error { return nil })
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
	assert.Zero(t, n)
}

func TestScopedAEAD(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	a := f.k.AEAD(skcrypto.Scope{Tenant: "acme", Subject: "endpoint-1"})
	ct, err := a.Encrypt([]byte("whsec_..."), []byte("endpoint-1"))
	require.NoError(t, err)
	pt, err := a.Decrypt(ct, []byte("endpoint-1"))
	require.NoError(t, err)
	assert.Equal(t, "whsec_...", string(pt))
	_, err = f.k.AEAD(acme).Decrypt(ct, []byte("endpoint-1"))
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f := newFixture(t, skcrypto.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	for range 3 {
		_, err := f.k.Encrypt(ctx, acme, []byte("m"), nil)
		require.NoError(t, err)
	}
	_, _ = f.k.Decrypt(ctx, acme, []byte("junk"), nil)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				sums[m.Name] += dp.Value
			}
		}
	}
	assert.Equal(t, f.root.Calls(), sums["saaskit.crypto.kms.calls"])
	assert.Positive(t, sums["saaskit.crypto.cache.lookups"])
	assert.Equal(t, int64(1), sums["saaskit.crypto.failures"])
}

// FuzzDecrypt: no input panics, and nothing but a real ciphertext opens.
func FuzzDecrypt(f *testing.F) {
	fx := newFixture(f, skcrypto.Options{})
	ct, err := fx.k.Encrypt(ctx, acme, []byte("hello"), nil)
	require.NoError(f, err)
	f.Add(ct)
	f.Add([]byte{})
	f.Add([]byte{1, 1})
	f.Add(append([]byte{1, 1}, make([]byte, 60)...))
	f.Add(append([]byte{1, 2}, ct[2:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := fx.k.Decrypt(ctx, acme, b, nil)
		if err == nil {
			assert.Equal(t, ct, b, "a forged ciphertext opened")
			assert.Equal(t, "hello", string(pt))
			return
		}
		assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
		_, err = fx.k.DecryptDeterministic(ctx, "acme", "c", b)
		assert.Error(t, err)
	})
}

// gateStore pauses Get of one record after reading it, until released.
type gateStore struct {
	*memstore.Store
	id       string
	entered  chan struct{}
	released chan struct{}
}

func (g *gateStore) Get(c context.Context, tenant, id string) (*skcrypto.KeyRecord, error) {
	r, err := g.Store.Get(c, tenant, id)
	if id == g.id {
		g.id = "" // once
		close(g.entered)
		<-g.released
	}
	return r, err
}

func TestShredDuringALoadDoesNotResurrectTheKey(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	alice := skcrypto.Scope{Tenant: "acme", Subject: "alice"}
	ct, err := f.k.Encrypt(ctx, alice, []byte("alice's data"), nil)
	require.NoError(t, err)

	gate := &gateStore{Store: f.store, id: hex.EncodeToString(ct[2:18]), entered: make(chan struct{}), released: make(chan struct{})}
	cold, err := skcrypto.NewKeyring(f.root, gate, f.store, skcrypto.Options{Now: f.clock.Now})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = cold.Decrypt(ctx, alice, ct, nil) // may finish first: it began before the shred
	}()
	<-gate.entered
	_, err = cold.ShredSubject(ctx, "acme", "alice")
	require.NoError(t, err)
	close(gate.released)
	<-done
	_, err = cold.Decrypt(ctx, alice, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed, "a load that raced the shred cached the key")
}

func TestShredReachesOtherProcesses(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	other, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{Now: f.clock.Now, TombstoneCheckInterval: time.Minute})
	require.NoError(t, err)
	alice := skcrypto.Scope{Tenant: "acme", Subject: "alice"}
	ct, err := f.k.Encrypt(ctx, alice, []byte("x"), nil)
	require.NoError(t, err)
	_, err = other.Decrypt(ctx, alice, ct, nil) // now cached there
	require.NoError(t, err)

	_, err = f.k.ShredSubject(ctx, "acme", "alice")
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = other.Decrypt(ctx, alice, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)

	_, err = other.Encrypt(ctx, acme, []byte("y"), nil)
	require.NoError(t, err)
	_, err = f.k.ShredTenant(ctx, "acme")
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = other.Encrypt(ctx, acme, []byte("z"), nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed, "a shredded tenant kept encrypting")
}

func TestRetiringDoesNotStrandKeysOfAnotherProcess(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	other, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{Now: f.clock.Now})
	require.NoError(t, err)
	_, err = other.Encrypt(ctx, acme, []byte("warms version 1 there"), nil)
	require.NoError(t, err)

	v, err := f.k.RotateKEK(ctx, "acme")
	require.NoError(t, err)
	_, err = f.k.Rewrap(ctx, "acme")
	require.NoError(t, err)
	require.NoError(t, f.k.SetMinDecryptionVersion(ctx, "acme", v))

	bob := skcrypto.Scope{Tenant: "acme", Subject: "bob"}
	ct, err := other.Encrypt(ctx, bob, []byte("written after the retire"), nil)
	require.NoError(t, err)
	fresh, err := skcrypto.NewKeyring(f.root, f.store, f.store, skcrypto.Options{Now: f.clock.Now})
	require.NoError(t, err)
	pt, err := fresh.Decrypt(ctx, bob, ct, nil)
	require.NoError(t, err, "a key was wrapped by a retired version")
	assert.Equal(t, "written after the retire", string(pt))
}

func TestAutomaticRotationHappensOncePerPeriod(t *testing.T) {
	f := newFixture(t, skcrypto.Options{RotationPeriod: 24 * time.Hour})
	_, err := f.k.Encrypt(ctx, acme, []byte("m"), nil)
	require.NoError(t, err)
	f.clock.Advance(25 * time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := f.k.Encrypt(ctx, skcrypto.Scope{Tenant: "acme", Subject: fmt.Sprint("s", i)}, []byte("m"), nil)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	info, err := f.k.KEK(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, info.Versions, 2)
}

func TestDecryptingCreatesNoKeys(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	_, err := f.k.DecryptDeterministic(ctx, "ghost", "email", []byte{1, 2, 3})
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
	_, err = f.k.DecryptStream(ctx, "ghost", bytes.NewReader([]byte{1, 3, 0, 0}), nil)
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
	_, err = f.k.Decrypt(ctx, skcrypto.Scope{Tenant: "ghost"}, make([]byte, 60), nil)
	assert.ErrorIs(t, err, skcrypto.ErrDecrypt)
	recs, err := f.store.List(ctx, "ghost", skcrypto.Filter{})
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.Zero(t, f.root.Calls())
}

// failingReader fails after its data, like a dropped connection.
type failingReader struct{ r io.Reader }

var errConnReset = errors.New("connection reset")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errConnReset
	}
	return n, err
}

func TestStreamSourceFailureIsNotTampering(t *testing.T) {
	f := newFixture(t, skcrypto.Options{})
	var sealed bytes.Buffer
	w, err := f.k.EncryptStream(ctx, "acme", &sealed, nil)
	require.NoError(t, err)
	_, _ = w.Write(bytes.Repeat([]byte("x"), 3<<20))
	require.NoError(t, w.Close())
	r, err := f.k.DecryptStream(ctx, "acme", failingReader{bytes.NewReader(sealed.Bytes()[:2<<20])}, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	assert.ErrorIs(t, err, errConnReset)
	assert.NotErrorIs(t, err, skcrypto.ErrDecrypt)
	_, err = f.k.DecryptStream(ctx, "acme", failingReader{bytes.NewReader(nil)}, nil)
	assert.ErrorIs(t, err, errConnReset)
}
