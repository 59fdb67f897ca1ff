package webhook_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// prefixDestination accepts topics under "tenants.<tenant>." and
// delivers nowhere: the registry's checks are what is under test here;
// webhooktest.RunDestinationTests covers delivery on real brokers.
type prefixDestination struct{}

func (prefixDestination) Check(tenantID string, target *url.URL) error {
	_, err := webhook.CheckTopic(target, "tenants."+tenantID+".")
	return err
}

func (prefixDestination) Deliver(context.Context, *webhook.Endpoint, *webhook.DestinationRequest) (webhook.DestinationResult, error) {
	return webhook.DestinationResult{}, nil
}

func TestEndpointSchemes(t *testing.T) {
	plain := newDeliveryFixture(t).d
	f := newDeliveryFixture(t)
	withBroker, err := webhook.NewDispatcher(f.store, f.store, func(string) webhook.AEAD { return f.aead },
		webhook.DispatcherOptions{Destinations: map[string]webhook.Destination{"kafka": prefixDestination{}}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		d       *webhook.Dispatcher
		url     string
		problem string // "" when accepted
	}{
		{"unregistered broker", plain, "kafka://tenants.acme.orders", `scheme "kafka" is not http or https, nor a destination the operator registered`},
		{"unknown scheme", withBroker, "nats://tenants.acme.orders", `scheme "nats" is not http or https, nor a destination the operator registered`},
		{"registered, own topic", withBroker, "kafka://tenants.acme.orders", ""},
		{"registered, upper-case scheme", withBroker, "KAFKA://tenants.acme.orders", `write the scheme "kafka" in lower case`},
		{"another tenant's topic", withBroker, "kafka://tenants.globex.orders", `not under this tenant's prefix "tenants.acme."`},
		{"the prefix alone", withBroker, "kafka://tenants.acme.", "not under this tenant's prefix"},
		{"a query", withBroker, "kafka://tenants.acme.orders?brokers=evil:9092", "url has a query"},
		{"userinfo", withBroker, "kafka://u:p@tenants.acme.orders", "userinfo"},
		{"a port", withBroker, "kafka://tenants.acme.orders:9092", "url has a port"},
		{"http still works", withBroker, "https://example.com/hook", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: tc.url})
			if tc.problem == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, webhook.ErrInvalidURL)
			assert.ErrorContains(t, err, tc.problem)
		})
	}
}
