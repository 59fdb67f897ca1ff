package versioning_test

import (
	"testing"

	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

func TestMemoryPinsConformance(t *testing.T) {
	versioningtest.RunPinStoreTests(t, func(*testing.T) versioning.PinStore { return versioning.NewMemoryPins() })
}
