package gdpr_test

import (
	"testing"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	gdprtest.RunStoreTests(t, func(*testing.T) gdpr.Store { return gdpr.NewMemoryStore() })
}

func TestMemoryHoldsConformance(t *testing.T) {
	gdprtest.RunHoldStoreTests(t, func(*testing.T) gdpr.HoldStore { return gdpr.NewMemoryHolds() })
}

func TestMemoryIncidentsConformance(t *testing.T) {
	gdprtest.RunIncidentStoreTests(t, func(*testing.T) gdpr.IncidentStore { return gdpr.NewMemoryIncidents() })
}
