package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

func TestConformance(t *testing.T) {
	tenancytest.RunStoreTests(t, func(t *testing.T) tenancytest.Adapter { return memstore.New() })
}

func TestDomainConformance(t *testing.T) {
	tenancytest.RunDomainStoreTests(t, func(t *testing.T) tenancytest.DomainAdapter { return memstore.New() })
}

func TestUsageConformance(t *testing.T) {
	tenancytest.RunUsageStoreTests(t, func(t *testing.T) tenancy.UsageStore { return memstore.New() })
}
