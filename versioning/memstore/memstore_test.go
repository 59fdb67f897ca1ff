package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/memstore"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

func TestPinsConformance(t *testing.T) {
	versioningtest.RunPinStoreTests(t, func(*testing.T) versioning.PinStore { return memstore.NewPins() })
}
