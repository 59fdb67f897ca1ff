package versioning

import (
	"context"

	"github.com/saaskit/saaskit/tenancy"
)

// TenantPins is a PinStore that keeps each pin in the tenant's record
// (tenancy.Tenant.APIVersion) through the registry, so that the record
// the service shows and edits is the pin the API serves.
type TenantPins struct{ reg *tenancy.Registry }

// NewTenantPins returns pins kept in reg's tenant records.
func NewTenantPins(reg *tenancy.Registry) *TenantPins { return &TenantPins{reg: reg} }

// Pin implements PinStore.
func (p *TenantPins) Pin(ctx context.Context, tenantID string) (string, error) {
	t, err := p.reg.Get(ctx, tenantID)
	if err != nil {
		return "", err
	}
	if t.APIVersion == "" {
		return "", ErrNoPin
	}
	return t.APIVersion, nil
}

// SetPin implements PinStore.
func (p *TenantPins) SetPin(ctx context.Context, tenantID, version string) error {
	_, err := p.reg.Update(ctx, tenantID, func(t *tenancy.Tenant) error {
		t.APIVersion = version
		return nil
	})
	return err
}
