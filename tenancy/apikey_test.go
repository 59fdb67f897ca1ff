package tenancy_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// forgeToken returns a well-formed token that no test registry knows.
func forgeToken(t *testing.T, prefix string) string {
	t.Helper()
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	defer reg.Close()
	tn, err := reg.Create(context.Background(), &tenancy.Tenant{Slug: "elsewhere", Name: "Elsewhere"})
	require.NoError(t, err)
	tok, _, err := reg.CreateKey(context.Background(), tn.ID, tenancy.KeyOptions{Prefix: prefix})
	require.NoError(t, err)
	return tok
}

func TestAPIKeyLifecycle(t *testing.T) {
	f := newFixture(t, tenancy.Options{KeyTouchInterval: time.Minute})
	ctx := context.Background()
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})

	tok, key, err := f.reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{Name: "deploy", Scopes: []string{"invoices:read"}})
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^sk_live_[0-9A-Za-z]{50}$`), tok)
	assert.Equal(t, tok[len(tok)-4:], key.Last4)
	assert.NotContains(t, string(key.Hash), tok[8:], "the secret is stored")
	assert.True(t, key.HasScope("invoices:read"))
	assert.False(t, key.HasScope("invoices:write"))

	gotTenant, gotKey, err := f.reg.Authenticate(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tn.ID, gotTenant.ID)
	assert.Equal(t, key.ID, gotKey.ID)
	stored, err := f.store.GetKey(ctx, tn.ID, key.ID)
	require.NoError(t, err)
	assert.Equal(t, f.clock.Now(), stored.LastUsedAt, "first use not recorded")

	// Use within the touch interval does not write; after it, it does.
	f.clock.Advance(30 * time.Second)
	_, _, err = f.reg.Authenticate(ctx, tok)
	require.NoError(t, err)
	stored, err = f.store.GetKey(ctx, tn.ID, key.ID)
	require.NoError(t, err)
	assert.Equal(t, f.clock.Now().Add(-30*time.Second), stored.LastUsedAt)
	f.clock.Advance(time.Minute)
	_, _, err = f.reg.Authenticate(ctx, tok)
	require.NoError(t, err)
	stored, _ = f.store.GetKey(ctx, tn.ID, key.ID)
	assert.Equal(t, f.clock.Now(), stored.LastUsedAt)

	keys, err := f.reg.ListKeys(ctx, tn.ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)

	require.NoError(t, f.reg.RevokeKey(ctx, tn.ID, key.ID))
	_, _, err = f.reg.Authenticate(ctx, tok)
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated)
}

func TestAPIKeyRejections(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	ctx := context.Background()
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	tok, key, err := f.reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{Prefix: "sk_test_", ExpiresAt: f.clock.Now().Add(time.Hour)})
	require.NoError(t, err)

	before := f.store.lookups.Load()
	for _, bad := range []string{"", "sk_test_", tok[:len(tok)-1], tok + "x", strings.ToUpper(tok[:8]) + tok[8:],
		tok[:20] + "!" + tok[21:], swapChar(tok, 30), strings.Repeat("a", 10000)} {
		_, _, err := f.reg.Authenticate(ctx, bad)
		assert.ErrorIs(t, err, tenancy.ErrMalformed, "%q", bad)
		if err != nil && len(bad) > 8 {
			assert.NotContains(t, err.Error(), bad[8:], "error reveals the token")
		}
	}
	assert.Equal(t, before, f.store.lookups.Load(), "malformed keys reached the store")

	// A well-formed token this registry never issued.
	wrong := forgeToken(t, "sk_test_")
	_, _, err = f.reg.Authenticate(ctx, wrong)
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated)

	f.clock.Advance(time.Hour)
	_, _, err = f.reg.Authenticate(ctx, tok)
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated, "expired key accepted")

	// Another tenant can neither see nor revoke the key.
	other := f.create(t, &tenancy.Tenant{Slug: "globex", Name: "Globex"})
	assert.ErrorIs(t, f.reg.RevokeKey(ctx, other.ID, key.ID), tenancy.ErrNotFound)
	keys, err := f.reg.ListKeys(ctx, other.ID)
	require.NoError(t, err)
	assert.Empty(t, keys)
	_, _, err = f.reg.RotateKey(ctx, other.ID, key.ID, time.Hour)
	assert.ErrorIs(t, err, tenancy.ErrNotFound)
}

func swapChar(s string, i int) string {
	b := []byte(s)
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func TestCreateKeyValidates(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	ctx := context.Background()
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	for name, opts := range map[string]tenancy.KeyOptions{
		"prefix":  {Prefix: "SK-"},
		"long":    {Prefix: "sk_very_long_prefix_"},
		"scope":   {Scopes: []string{"bad scope"}},
		"name":    {Name: "a\nb"},
		"expired": {ExpiresAt: f.clock.Now()},
	} {
		_, _, err := f.reg.CreateKey(ctx, tn.ID, opts)
		assert.ErrorIs(t, err, tenancy.ErrInvalid, name)
	}
	_, _, err := f.reg.CreateKey(ctx, "ghost", tenancy.KeyOptions{})
	assert.ErrorIs(t, err, tenancy.ErrNotFound)

	noKeys := tenancy.NewRegistry(f.store, nil, tenancy.Options{})
	defer noKeys.Close()
	_, _, err = noKeys.CreateKey(ctx, tn.ID, tenancy.KeyOptions{})
	assert.Error(t, err)
}

func TestRotateKeyOverlap(t *testing.T) {
	f := newFixture(t, tenancy.Options{})
	ctx := context.Background()
	tn := f.create(t, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
	oldTok, old, err := f.reg.CreateKey(ctx, tn.ID, tenancy.KeyOptions{Name: "ci", Scopes: []string{"a"},
		Prefix: "sk_test_", ExpiresAt: f.clock.Now().Add(90 * 24 * time.Hour)})
	require.NoError(t, err)

	f.clock.Advance(24 * time.Hour)
	newTok, fresh, err := f.reg.RotateKey(ctx, tn.ID, old.ID, time.Hour)
	require.NoError(t, err)
	assert.NotEqual(t, old.ID, fresh.ID)
	assert.Equal(t, "ci", fresh.Name)
	assert.Equal(t, []string{"a"}, fresh.Scopes)
	assert.True(t, strings.HasPrefix(newTok, "sk_test_"))
	assert.Equal(t, f.clock.Now().Add(90*24*time.Hour), fresh.ExpiresAt, "the new key keeps the old lifetime")

	// Both work during the overlap; only the new one after it.
	for _, tok := range []string{oldTok, newTok} {
		_, _, err := f.reg.Authenticate(ctx, tok)
		require.NoError(t, err)
	}
	f.clock.Advance(time.Hour)
	_, _, err = f.reg.Authenticate(ctx, oldTok)
	assert.ErrorIs(t, err, tenancy.ErrUnauthenticated)
	_, _, err = f.reg.Authenticate(ctx, newTok)
	assert.NoError(t, err)

	// An expired key cannot be rotated, and overlap must not be negative.
	_, _, err = f.reg.RotateKey(ctx, tn.ID, old.ID, time.Hour)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
	_, _, err = f.reg.RotateKey(ctx, tn.ID, fresh.ID, -time.Second)
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestAPIKeyOfSuspendedTenantIsRefusedByMiddleware(t *testing.T) {
	f, h := resolutionFixture(t)
	ctx := context.Background()
	tok, _, err := f.reg.CreateKey(ctx, "t-acme", tenancy.KeyOptions{})
	require.NoError(t, err)
	_, err = f.reg.SetStatus(ctx, "t-acme", tenancy.StatusSuspended)
	require.NoError(t, err)
	assert.Equal(t, 403, serve(h, "localhost", "/", map[string]string{"X-API-Key": tok}))
}
