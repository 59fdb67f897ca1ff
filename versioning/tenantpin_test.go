package versioning_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
	"github.com/saaskit/saaskit/versioning"
	versioningmem "github.com/saaskit/saaskit/versioning/memstore"
)

// TestTenantRecordPinComesFirst: a tenant record pinned to an old
// version is served at it, and AutoPin does not overwrite it.
func TestTenantRecordPinComesFirst(t *testing.T) {
	pins := versioningmem.NewPins()
	api, err := versioning.New(versioning.Options{Versions: []string{"2024-01-01", "2024-06-01"}, Pins: pins, AutoPin: true})
	require.NoError(t, err)
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", APIVersion: "2024-01-01"})
	v, _, err := api.Resolve(httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	require.NoError(t, err)
	assert.Equal(t, "2024-01-01", v.String())
	_, err = pins.Pin(ctx, "acme")
	assert.ErrorIs(t, err, versioning.ErrNoPin, "AutoPin wrote over the tenant record's pin")

	// Without a PinStore the record's pin still decides.
	api, err = versioning.New(versioning.Options{Versions: []string{"v1", "v2"}})
	require.NoError(t, err)
	ctx = tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", APIVersion: "v1"})
	v, _, err = api.Resolve(httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	require.NoError(t, err)
	assert.Equal(t, "v1", v.String())
}

// TestTenantPinsKeepThePinInTheRecord: with TenantPins, AutoPin pins
// the tenant record itself.
func TestTenantPinsKeepThePinInTheRecord(t *testing.T) {
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	t.Cleanup(func() { _ = reg.Close() })
	ctx := context.Background()
	acme, err := reg.Create(ctx, &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	api, err := versioning.New(versioning.Options{Versions: []string{"2024-01-01", "2024-06-01.beta"}, Pins: versioning.NewTenantPins(reg), AutoPin: true})
	require.NoError(t, err)
	v, _, err := api.Resolve(httptest.NewRequest("GET", "/", nil).WithContext(tenancy.WithTenant(ctx, acme)))
	require.NoError(t, err)
	assert.Equal(t, "2024-06-01.beta", v.String())
	got, err := reg.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "2024-06-01.beta", got.APIVersion, "the record holds the pin")
}

// TestTenancyAcceptsEveryVersionVersioningDoes holds tenancy.Validate's
// api_version rule to versioning.ParseVersion.
func TestTenancyAcceptsEveryVersionVersioningDoes(t *testing.T) {
	for _, s := range []string{
		"2024-01-01", "2024-01-01.beta", "2024-01-01.acacia2", "v1", "v2", "v10",
		"v0", "v01", "v-1", "v", "V2", "2024-13-01", "2024-1-01", "2024-01-01.", "2024-01-01.Beta",
		"2024-01-01.a-b", "2024-01-01.abcdefghijklmnopqrstuvwxyz0123456", "2024-01-01.abcdefghijklmnopqrstuvwxyz012345", "latest",
	} {
		_, parseErr := versioning.ParseVersion(s)
		err := tenancy.Validate(&tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme", Status: tenancy.StatusActive, Isolation: tenancy.IsolationShared, APIVersion: s}, nil)
		assert.Equal(t, parseErr == nil, err == nil, "%q: versioning says %v, tenancy says %v", s, parseErr, err)
	}
}
