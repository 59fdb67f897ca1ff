package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

func TestConformance(t *testing.T) {
	webhooktest.RunStoreTests(t, func(t *testing.T) webhooktest.Adapter { return memstore.New() })
}
