package gdpr_test

import (
	"testing"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	gdprtest.RunStoreTests(t, func(*testing.T) gdpr.Store { return gdpr.NewMemoryStore() })
}
