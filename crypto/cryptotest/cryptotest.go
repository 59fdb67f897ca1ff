// Package cryptotest is the conformance suite for crypto key stores and
// tombstone stores. Every adapter runs it:
//
//	cryptotest.RunStoreTests(t, func(t *testing.T) (skcrypto.KeyStore, skcrypto.Tombstones) {
//		s := mystore.New(...)
//		return s, s
//	})
package cryptotest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
)

// NewStores returns an empty key store and tombstone store.
type NewStores func(t *testing.T) (skcrypto.KeyStore, skcrypto.Tombstones)

// RunStoreTests checks the KeyStore and Tombstones contracts.
func RunStoreTests(t *testing.T, newStores NewStores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ks skcrypto.KeyStore, ts skcrypto.Tombstones)
	}{
		{"CreateGet", testCreateGet},
		{"TenantScoped", testTenantScoped},
		{"Update", testUpdate},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"List", testList},
		{"Delete", testDelete},
		{"Tombstones", testTombstones},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, ts := newStores(t)
			tc.fn(t, ks, ts)
		})
	}
	t.Run("Keyring", func(t *testing.T) { RunKeyringTests(t, newStores) })
}

var t0 = time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)

func record(tenant, id string, kind skcrypto.Kind, subject string, at time.Time) *skcrypto.KeyRecord {
	return &skcrypto.KeyRecord{
		TenantID: tenant, ID: id, Kind: kind, Subject: subject,
		Material: []byte("wrapped:" + tenant + ":" + id), WrappedBy: 42, Meta: []byte(`{"v":1}`), CreatedAt: at,
	}
}

func testCreateGet(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	r := record("t1", "kek", skcrypto.KindKEK, "", t0)
	require.NoError(t, ks.Create(ctx, r))
	assert.Equal(t, int64(1), r.Version)
	got, err := ks.Get(ctx, "t1", "kek")
	require.NoError(t, err)
	assert.Equal(t, r, got)

	d := record("t1", "00112233445566778899aabbccddeeff", skcrypto.KindDEK, "user-7", t0)
	d.Meta = nil
	require.NoError(t, ks.Create(ctx, d))
	got, err = ks.Get(ctx, "t1", d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.Subject, got.Subject)
	assert.Empty(t, got.Meta)

	assert.ErrorIs(t, ks.Create(ctx, record("t1", "kek", skcrypto.KindKEK, "", t0)), skcrypto.ErrConflict)
	_, err = ks.Get(ctx, "t1", "missing")
	assert.ErrorIs(t, err, skcrypto.ErrNotFound)

	got.Material[0] ^= 0xff // callers own what they get
	again, _ := ks.Get(ctx, "t1", d.ID)
	assert.Equal(t, d.Material, again.Material)
}

func testTenantScoped(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	require.NoError(t, ks.Create(ctx, record("t1", "kek", skcrypto.KindKEK, "", t0)))
	require.NoError(t, ks.Create(ctx, record("t2", "kek", skcrypto.KindKEK, "", t0)), "ids are per tenant")

	_, err := ks.Get(ctx, "t3", "kek")
	assert.ErrorIs(t, err, skcrypto.ErrNotFound)
	other := record("t3", "kek", skcrypto.KindKEK, "", t0)
	other.Version = 1
	assert.ErrorIs(t, ks.Update(ctx, other), skcrypto.ErrNotFound)
	require.NoError(t, ks.Delete(ctx, "t3", []string{"kek"}))

	for _, tenant := range []string{"t1", "t2"} {
		got, err := ks.Get(ctx, tenant, "kek")
		require.NoError(t, err, "another tenant's call touched %s", tenant)
		assert.Equal(t, "wrapped:"+tenant+":kek", string(got.Material))
		list, err := ks.List(ctx, tenant, skcrypto.Filter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, tenant, list[0].TenantID)
	}
}

func testUpdate(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	r := record("t1", "prf", skcrypto.KindIndex, "", t0)
	require.NoError(t, ks.Create(ctx, r))
	r.Material, r.WrappedBy, r.Meta = []byte("rewrapped"), 43, []byte(`{"v":2}`)
	require.NoError(t, ks.Update(ctx, r))
	assert.Equal(t, int64(2), r.Version)
	got, err := ks.Get(ctx, "t1", "prf")
	require.NoError(t, err)
	assert.Equal(t, r, got)

	stale := *r
	stale.Version = 1
	stale.Material = []byte("lost")
	assert.ErrorIs(t, ks.Update(ctx, &stale), skcrypto.ErrConflict)
	got, _ = ks.Get(ctx, "t1", "prf")
	assert.Equal(t, "rewrapped", string(got.Material))
}

func testConcurrentUpdates(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	require.NoError(t, ks.Create(ctx, record("t1", "kek", skcrypto.KindKEK, "", t0)))
	const writers = 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for {
				cur, err := ks.Get(ctx, "t1", "kek")
				if !assert.NoError(t, err) {
					return
				}
				cur.Meta = append(cur.Meta, fmt.Sprintf(";w%d", i)...)
				if err = ks.Update(ctx, cur); err == nil {
					return
				}
				if !assert.ErrorIs(t, err, skcrypto.ErrConflict) {
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := ks.Get(ctx, "t1", "kek")
	require.NoError(t, err)
	assert.Equal(t, int64(writers+1), got.Version)
	for i := range writers {
		assert.Contains(t, string(got.Meta), fmt.Sprintf(";w%d", i), "update %d lost", i)
	}
}

func testList(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	recs := []*skcrypto.KeyRecord{
		record("t1", "kek", skcrypto.KindKEK, "", t0),
		record("t1", "d3", skcrypto.KindDEK, "alice", t0.Add(3*time.Second)),
		record("t1", "d1", skcrypto.KindDEK, "", t0.Add(1*time.Second)),
		record("t1", "d2", skcrypto.KindDEK, "alice", t0.Add(2*time.Second)),
		record("t1", "prf", skcrypto.KindIndex, "", t0.Add(4*time.Second)),
	}
	for _, r := range recs {
		require.NoError(t, ks.Create(ctx, r))
	}
	ids := func(f skcrypto.Filter) []string {
		list, err := ks.List(ctx, "t1", f)
		require.NoError(t, err)
		var out []string
		for _, r := range list {
			out = append(out, r.ID)
		}
		return out
	}
	assert.Equal(t, []string{"kek", "d1", "d2", "d3", "prf"}, ids(skcrypto.Filter{}))
	assert.Equal(t, []string{"d1", "d2", "d3"}, ids(skcrypto.Filter{Kind: skcrypto.KindDEK}))
	assert.Equal(t, []string{"d2", "d3"}, ids(skcrypto.Filter{Kind: skcrypto.KindDEK, Subject: "alice", SubjectSet: true}))
	assert.Equal(t, []string{"d1"}, ids(skcrypto.Filter{Kind: skcrypto.KindDEK, SubjectSet: true}))
	assert.Empty(t, ids(skcrypto.Filter{Kind: skcrypto.KindStreaming}))
}

func testDelete(t *testing.T, ks skcrypto.KeyStore, _ skcrypto.Tombstones) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, ks.Create(ctx, record("t1", id, skcrypto.KindDEK, "", t0)))
	}
	require.NoError(t, ks.Delete(ctx, "t1", []string{"a", "c", "absent"}))
	list, err := ks.List(ctx, "t1", skcrypto.Filter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "b", list[0].ID)
	require.NoError(t, ks.Delete(ctx, "t1", nil))
	// A deleted ID can be created again (a restore does this).
	require.NoError(t, ks.Create(ctx, record("t1", "a", skcrypto.KindDEK, "", t0)))
}

func testTombstones(t *testing.T, _ skcrypto.KeyStore, ts skcrypto.Tombstones) {
	ctx := context.Background()
	buried := func(tenant, id string) bool {
		b, err := ts.Buried(ctx, tenant, id)
		require.NoError(t, err)
		return b
	}
	assert.False(t, buried("t1", "d1"))
	grave := []skcrypto.Tombstone{{TenantID: "t1", KeyID: "d1", At: t0}, {TenantID: "t1", KeyID: "d2", At: t0}}
	require.NoError(t, ts.Bury(ctx, grave))
	require.NoError(t, ts.Bury(ctx, grave), "burying twice")
	require.NoError(t, ts.Bury(ctx, nil))
	assert.True(t, buried("t1", "d1"))
	assert.True(t, buried("t1", "d2"))
	assert.False(t, buried("t1", "d3"))
	assert.False(t, buried("t2", "d1"), "another tenant's key is buried")

	require.NoError(t, ts.Bury(ctx, []skcrypto.Tombstone{{TenantID: "t2", KeyID: "kek", At: t0}}))
	assert.True(t, buried("t2", "anything"), "a buried KEK buries the tenant")
	assert.False(t, buried("t1", "d3"))
}
