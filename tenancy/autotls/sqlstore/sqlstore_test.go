package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	"github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy/autotls/autotlstest"
	"github.com/saaskit/saaskit/tenancy/autotls/sqlstore"
)

// keyringAEAD is a crypto.Keyring's AEAD for the platform scope, as a
// service seals its TLS keys.
func keyringAEAD(t testing.TB) tink.AEAD {
	st := memstore.New()
	k, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), st, st, skcrypto.Options{})
	require.NoError(t, err)
	return k.AEAD(skcrypto.Scope{Tenant: "platform"})
}

func newStorage(t testing.TB, db *sqldb.DB, aead tink.AEAD, opts sqlstore.Options) *sqlstore.Storage {
	t.Helper()
	s, err := sqlstore.New(db.DB, aead, opts)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStorageConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		autotlstest.RunStorageTests(t, func(t *testing.T) (certmagic.Storage, certmagic.Storage) {
			db := open(t)
			aead := keyringAEAD(t)
			opts := sqlstore.Options{PollInterval: 5 * time.Millisecond}
			return newStorage(t, db, aead, opts), newStorage(t, sqldbtest.Reopen(t, db), aead, opts)
		})
	})
}

func TestValuesAreSealed(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStorage(t, db, keyringAEAD(t), sqlstore.Options{})
		require.NoError(t, s.Store(ctx, "certificates/ca/a.test/a.test.key", []byte("-----BEGIN EC PRIVATE KEY-----")))
		require.NoError(t, s.Store(ctx, "certificates/ca/b.test/b.test.key", []byte("other")))

		var raw []byte
		require.NoError(t, db.QueryRowContext(ctx, db.Dialect.Rebind("SELECT value FROM autotls_items WHERE key = ?"), "certificates/ca/a.test/a.test.key").Scan(&raw))
		assert.NotContains(t, string(raw), "PRIVATE KEY", "stored sealed")

		// A value copied under another key does not open.
		_, err := db.ExecContext(ctx, db.Dialect.Rebind("UPDATE autotls_items SET value = ? WHERE key = ?"), raw, "certificates/ca/b.test/b.test.key")
		require.NoError(t, err)
		_, err = s.Load(ctx, "certificates/ca/b.test/b.test.key")
		assert.Error(t, err)

		// Another keyring cannot read it.
		other := newStorage(t, db, keyringAEAD(t), sqlstore.Options{})
		_, err = other.Load(ctx, "certificates/ca/a.test/a.test.key")
		assert.Error(t, err)
	})
}

// A lock whose holder died (never unlocked, never renewed) frees itself
// after LockTTL; a live holder's lock does not, since it renews it.
func TestExpiredLockIsTakenOver(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		opts := sqlstore.Options{LockTTL: time.Hour, Now: clock.Now} // the ticker renewing it never fires in the test
		aead := keyringAEAD(t)
		dead := newStorage(t, db, aead, opts)
		live := newStorage(t, sqldbtest.Reopen(t, db), aead, opts)

		require.NoError(t, dead.Lock(ctx, "issue_cert_a.test"))
		ok, err := live.TryLock(ctx, "issue_cert_a.test")
		require.NoError(t, err)
		assert.False(t, ok, "held")

		clock.Advance(59 * time.Minute)
		require.NoError(t, dead.RenewLockLease(ctx, "issue_cert_a.test", time.Hour))
		clock.Advance(59 * time.Minute)
		ok, err = live.TryLock(ctx, "issue_cert_a.test")
		require.NoError(t, err)
		assert.False(t, ok, "renewed, so still held")

		clock.Advance(2 * time.Minute)
		ok, err = live.TryLock(ctx, "issue_cert_a.test")
		require.NoError(t, err)
		assert.True(t, ok, "expired: taken over")
		assert.Error(t, dead.RenewLockLease(ctx, "issue_cert_a.test", time.Hour), "the old holder has lost it")
		require.NoError(t, live.Unlock(ctx, "issue_cert_a.test"))
	})
}

func TestInvalid(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	_, err := sqlstore.New(db.DB, nil, sqlstore.Options{})
	assert.ErrorIs(t, err, sqlstore.ErrInvalid)
	assert.ErrorContains(t, err, "aead")
	_, err = sqlstore.New(db.DB, keyringAEAD(t), sqlstore.Options{LockTTL: -1})
	assert.ErrorContains(t, err, "LockTTL")
	s := newStorage(t, db, keyringAEAD(t), sqlstore.Options{})
	for _, k := range []string{"", "/a", "a/", "a//b"} {
		assert.ErrorIs(t, s.Store(context.Background(), k, []byte("x")), sqlstore.ErrInvalid, "key %q", k)
	}
	assert.Error(t, s.Unlock(context.Background(), "never"), "unlock of a lock not held")
}
