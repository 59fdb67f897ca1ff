package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/memstore"
)

func TestStoreConformance(t *testing.T) {
	gdprtest.RunStoreTests(t, func(*testing.T) gdpr.Store { return memstore.New() })
}

func TestHoldsConformance(t *testing.T) {
	gdprtest.RunHoldStoreTests(t, func(*testing.T) gdpr.HoldStore { return memstore.New() })
}
