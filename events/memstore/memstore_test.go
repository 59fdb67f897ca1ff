package memstore_test

import (
	"testing"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/eventstest"
	"github.com/saaskit/saaskit/events/memstore"
)

func TestConformance(t *testing.T) {
	eventstest.RunStoreTests(t, func(*testing.T) events.Store { return memstore.New() })
	eventstest.RunInboxTests(t, func(*testing.T) events.Inbox { return memstore.NewInbox() })
}
