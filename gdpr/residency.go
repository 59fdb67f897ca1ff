package gdpr

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/saaskit/saaskit/tenancy"
)

// ErrResidency means personal data would be written outside the tenant's
// allowed regions.
var ErrResidency = errors.New("gdpr: region not allowed for this tenant's data")

// TenantLookup finds a tenant; *tenancy.Registry is one.
type TenantLookup interface {
	// Get returns the tenant of id.
	Get(ctx context.Context, id string) (*tenancy.Tenant, error)
}

// Residency guards data residency: a tenant's personal data may be
// written only in its home region (tenancy.Tenant.Region) and in the
// regions Extra allows it. Call Check before writing to a regional
// store, replica or backup target.
type Residency struct {
	Tenants TenantLookup
	// Extra are further regions per tenant ID (a contractual secondary
	// region, say). Default: none.
	Extra map[string][]string
}

// Allowed returns the regions a tenant's data may be written to.
func (r Residency) Allowed(ctx context.Context, tenantID string) ([]string, error) {
	t, err := r.Tenants.Get(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("gdpr: residency of tenant %s: %w", tenantID, err)
	}
	var out []string
	if t.Region != "" {
		out = append(out, t.Region)
	}
	return append(out, r.Extra[tenantID]...), nil
}

// Check refuses, with ErrResidency, a write of the tenant's personal
// data to region. A tenant without a home region and without extra
// regions may write nowhere: residency must be decided, not assumed.
func (r Residency) Check(ctx context.Context, tenantID, region string) error {
	allowed, err := r.Allowed(ctx, tenantID)
	if err != nil {
		return err
	}
	if !slices.Contains(allowed, region) {
		return fmt.Errorf("%w: tenant %s, region %q; allowed: %v", ErrResidency, tenantID, region, allowed)
	}
	return nil
}
