package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

func TestConformance(t *testing.T) {
	webhooktest.RunStoreTests(t, func(t *testing.T) webhooktest.Adapter { return memstore.New() })
}

func TestShared(t *testing.T) {
	webhooktest.RunSharedTests(t, func(t *testing.T) (webhooktest.Adapter, func() webhooktest.Adapter) {
		st := memstore.New()
		return st, func() webhooktest.Adapter { return st } // one process's store: every handle is the same
	})
}
