package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/consenttest"
	"github.com/saaskit/saaskit/gdpr/consent/memstore"
)

func TestStoreConformance(t *testing.T) {
	consenttest.RunStoreTests(t, func(*testing.T) consent.Store { return memstore.New() })
}
