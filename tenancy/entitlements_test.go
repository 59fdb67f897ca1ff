package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func plans(t *testing.T) *tenancy.Entitlements {
	t.Helper()
	e, err := tenancy.NewEntitlements(map[string]tenancy.Plan{
		"":    {Limits: map[string]int64{"endpoints": 1, "seats": 3}},
		"pro": {Features: map[string]bool{"sso": true, "audit-export": true}, Limits: map[string]int64{"endpoints": 10}},
	})
	require.NoError(t, err)
	return e
}

func TestEntitlementsFollowThePlanAndTheOverrides(t *testing.T) {
	e := plans(t)
	free := &tenancy.Tenant{ID: "acme"}
	pro := &tenancy.Tenant{ID: "globex", Plan: "pro", Settings: map[string]string{"feature.audit-export": "off", "limit.endpoints": "25", "limit.seats": "unlimited"}}

	assert.False(t, e.Has(free, "sso"))
	assert.True(t, e.Has(pro, "sso"))
	assert.False(t, e.Has(pro, "audit-export"), "the tenant's override turns the plan's feature off")
	n, ok := e.Limit(free, "endpoints")
	assert.True(t, ok)
	assert.EqualValues(t, 1, n)
	n, ok = e.Limit(pro, "endpoints")
	assert.True(t, ok)
	assert.EqualValues(t, 25, n, "the override raises the plan's limit")
	_, ok = e.Limit(pro, "seats")
	assert.False(t, ok, "unlimited by override")
	_, ok = e.Limit(free, "api-calls")
	assert.False(t, ok, "a limit no plan names is unlimited")

	ctx := tenancy.WithTenant(context.Background(), free)
	assert.NoError(t, e.Within(ctx, "endpoints", 1))
	err := e.Within(ctx, "endpoints", 2)
	assert.ErrorIs(t, err, tenancy.ErrNotEntitled)
	assert.EqualError(t, err, "tenancy: not entitled: 2 endpoints is over the limit of 1 on the default plan")
	assert.False(t, e.Entitled(ctx, "sso"))
	assert.True(t, e.Entitled(tenancy.WithTenant(context.Background(), pro), "sso"))
	assert.False(t, e.Entitled(context.Background(), "sso"), "no tenant, no feature")
	assert.ErrorIs(t, e.Within(context.Background(), "endpoints", 0), tenancy.ErrNotEntitled)
}

func TestEntitlementOverridesAreValidatedWhenStored(t *testing.T) {
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	ctx := context.Background()
	for k, v := range map[string]string{"feature.sso": "yes", "limit.seats": "-1", "limit.api": "lots", "feature.Bad Name": "on"} {
		_, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme", Settings: map[string]string{k: v}})
		var fe *tenancy.FieldError
		assert.True(t, errors.As(err, &fe), "%s=%s: %v", k, v, err)
	}
	created, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme", Settings: map[string]string{"feature.sso": "on", "limit.seats": "40", "theme": "dark"}})
	require.NoError(t, err)
	assert.True(t, plans(t).Has(created, "sso"))

	for name, p := range map[string]map[string]tenancy.Plan{
		"negative limit": {"x": {Limits: map[string]int64{"seats": -1}}},
		"bad feature":    {"x": {Features: map[string]bool{"S S O": true}}},
	} {
		_, err := tenancy.NewEntitlements(p)
		assert.ErrorIs(t, err, tenancy.ErrInvalid, name)
	}
}
