package jetstreamdest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/jetstreamdest"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhookapi"
)

// TestTenantCannotPublishOutsideItsSubjects attacks through the
// management API, as a tenant would: tenant globex tries acme's
// subjects, JetStream's API and the platform's events stream, by
// creating and by updating an endpoint.
func TestTenantCannotPublishOutsideItsSubjects(t *testing.T) {
	js := connect(t)
	dest, err := jetstreamdest.New(js, jetstreamdest.Options{})
	require.NoError(t, err)
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	store := memstore.New()
	d, err := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead },
		webhook.DispatcherOptions{Destinations: map[string]webhook.Destination{jetstreamdest.Scheme: dest}})
	require.NoError(t, err)
	api := webhookapi.New(d, webhookapi.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: r.Header.Get("X-Tenant")}}
		api.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	call2 := func(tenant, method, path string, in map[string]any) (int, string) {
		body, _ := json.Marshal(in)
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Tenant", tenant)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := func(tenant, method, path, url string) (int, string) {
		return call2(tenant, method, path, map[string]any{"url": url})
	}

	status, body := call("acme", "POST", "/endpoints", "nats://webhooks.acme.orders")
	require.Equal(t, http.StatusCreated, status, body)
	status, body = call("globex", "POST", "/endpoints", "nats://webhooks.globex.orders")
	require.Equal(t, http.StatusCreated, status, body)
	var own struct{ Endpoint struct{ ID string } }
	require.NoError(t, json.Unmarshal([]byte(body), &own))

	for _, url := range []string{
		"nats://webhooks.acme.orders",         // another tenant's subject
		"nats://webhooks.acme",                // another tenant's prefix
		"nats://$JS.API.STREAM.DELETE.EVENTS", // JetStream's API
		"nats://$JS.API.>",
		"nats://events.acme.order.created", // the platform's events stream
		"nats://events.>",
		"nats://webhooks.globex.>",           // a wildcard under its own prefix
		"nats://webhooks.globex.*",           //
		"nats://webhooks.globex..x",          // an empty token
		"nats://webhooks.globex.x?stream=EV", // driver options
		"kafka://webhooks.globex.orders",     // a scheme the operator did not register
	} {
		status, body := call("globex", "POST", "/endpoints", url)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "create %s: %s", url, body)
		status, body = call("globex", "PUT", "/endpoints/"+own.Endpoint.ID, url)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "update %s: %s", url, body)
	}
	_, body = call("globex", "POST", "/endpoints", "nats://webhooks.acme.orders")
	assert.Contains(t, body, `not under this tenant's prefix \"webhooks.globex.\"`)
	_, body = call("globex", "POST", "/endpoints", "kafka://webhooks.globex.orders")
	assert.Contains(t, body, "nor a destination the operator registered")

	// Nor may its headers steer the stream.
	status, body = call2("globex", "POST", "/endpoints", map[string]any{"url": "nats://webhooks.globex.x", "headers": map[string]string{"Nats-Rollup": "sub"}})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	assert.Contains(t, body, "Nats-Rollup")

	// A tenant ID that is not one subject token has no subjects at all.
	status, body = call("a.b", "POST", "/endpoints", "nats://webhooks.a.b.orders")
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
}
