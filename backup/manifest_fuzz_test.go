package backup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// FuzzManifest feeds the manifest reader with edits of a sealed
// manifest: it never panics, and what it accepts is the manifest as
// sealed (members reordered or spaced otherwise at most).
//
//	go test -run '^$' -fuzz FuzzManifest -fuzztime 1m ./backup/
func FuzzManifest(f *testing.F) {
	st := cryptomem.New()
	keys, err := skcrypto.NewKeyring(cryptotest.NewRootKey(f), st, st, skcrypto.Options{})
	require.NoError(f, err)
	target := NewMemoryTarget("mem")
	b, err := New(KeyringCipher(keys, "acme"), []Target{target}, Options{TenantID: "acme"})
	require.NoError(f, err)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	m := &Manifest{ID: "20261201T030000Z-0a0b0c0d0e0f", Source: "ledger", TenantID: "acme", Started: at, Finished: at.Add(time.Second),
		PlainSize: 6, PlainSHA256: "aa", StoredSize: 60, StoredSHA256: "bb", Compression: "zstd", KeyID: "keyring:backup/acme",
		Targets: []string{"mem"}, Tags: []string{"daily"}}
	sealed, err := b.sealManifest(ctx, m)
	require.NoError(f, err)
	f.Add(sealed)
	f.Add([]byte(`{"id":"20261201T030000Z-0a0b0c0d0e0f","source":"ledger"}`))
	f.Add([]byte(`{"id":"20261201T030000Z-0a0b0c0d0e0f","seal":"v1:AAAA"}`))
	want := string(mustJSON(m))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := b.openManifest(ctx, target, m.ID, raw)
		if err == nil {
			require.Equal(t, want, string(mustJSON(got)))
		}
	})
}
