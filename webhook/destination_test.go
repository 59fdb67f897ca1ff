package webhook_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
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

// FuzzDestinationURL: whatever URL a tenant gives, an endpoint on a
// registered broker scheme is accepted only for a topic under the
// tenant's prefix, with no query, port or userinfo, and nothing panics.
func FuzzDestinationURL(f *testing.F) {
	for _, seed := range []string{
		"kafka://tenants.acme.orders", "kafka://tenants.globex.orders", "kafka://tenants.acme.", "kafka:tenants.acme.x",
		"kafka://tenants.acme.x?brokers=evil", "kafka://u@tenants.acme.x", "kafka://tenants.acme.x:1", "kafka://%74enants.acme.x",
		"kafka://tenants.acme.x/../../globex", "KAFKA://tenants.acme.x", "https://example.com/", "kafka://tenants.acme.x#f",
	} {
		f.Add(seed)
	}
	uri, err := fakekms.NewKeyURI()
	require.NoError(f, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(f, err)
	store := memstore.New()
	d, err := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead },
		webhook.DispatcherOptions{Destinations: map[string]webhook.Destination{"kafka": prefixDestination{}}})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, raw string) {
		e, _, err := d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: raw})
		if err != nil {
			return
		}
		u, perr := url.Parse(e.URL)
		require.NoError(t, perr)
		if u.Scheme != "kafka" {
			return // an HTTP endpoint
		}
		name := webhook.TopicName(u)
		assert.True(t, strings.HasPrefix(name, "tenants.acme.") && len(name) > len("tenants.acme."), "accepted %q: topic %q", raw, name)
		assert.Empty(t, u.RawQuery, raw)
		assert.Empty(t, u.Port(), raw)
		assert.Nil(t, u.User, raw)
	})
}
