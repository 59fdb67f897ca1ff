package gdpr_test

import (
	"testing"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
)

func TestMemoryIncidentsConformance(t *testing.T) {
	gdprtest.RunIncidentStoreTests(t, func(*testing.T) gdpr.IncidentStore { return gdpr.NewMemoryIncidents() })
}
