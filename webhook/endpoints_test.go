package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// TestEndpointLifecycle walks an endpoint through every Dispatcher
// method that changes it, each validated as creation is.
func TestEndpointLifecycle(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	e, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://a.example.com/hooks", EventTypes: []string{"invoice.paid"}})
	require.NoError(t, err)

	got, err := f.d.GetEndpoint(ctx, "acme", e.ID)
	require.NoError(t, err)
	assert.Equal(t, e.URL, got.URL)

	updated, err := f.d.UpdateEndpoint(ctx, "acme", e.ID, webhook.EndpointSpec{
		URL: "https://b.example.com/hooks", EventTypes: []string{"invoice.paid", "invoice.voided"}, RateLimit: 5, Metadata: map[string]string{"team": "billing"},
	})
	require.NoError(t, err)
	assert.Equal(t, "https://b.example.com/hooks", updated.URL)
	assert.Equal(t, []string{"invoice.paid", "invoice.voided"}, updated.EventTypes)
	assert.Equal(t, e.Secrets, updated.Secrets, "an update keeps the secrets")
	assert.Equal(t, e.Version+1, updated.Version)

	for _, spec := range []webhook.EndpointSpec{{URL: "ftp://b.example.com"}, {URL: "http://169.254.169.254/latest"}} {
		_, err := f.d.UpdateEndpoint(ctx, "acme", e.ID, spec)
		assert.ErrorIs(t, err, webhook.ErrInvalidURL, spec.URL)
	}
	for name, spec := range map[string]webhook.EndpointSpec{
		"bad event type":    {URL: "https://b.example.com", EventTypes: []string{"no spaces"}},
		"bad rate limit":    {URL: "https://b.example.com", RateLimit: -1},
		"bad api version":   {URL: "https://b.example.com", APIVersion: "two words"},
		"unknown scheme":    {URL: "https://b.example.com", Signature: "v2"},
		"too much metadata": {URL: "https://b.example.com", Metadata: manyEntries(51)},
	} {
		_, err := f.d.UpdateEndpoint(ctx, "acme", e.ID, spec)
		if name == "unknown scheme" {
			assert.NoError(t, err, "update ignores the signature scheme")
			_, _, err = f.d.CreateEndpoint(ctx, "acme", spec)
		}
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}

	assert.ErrorIs(t, f.d.DisableEndpoint(ctx, "acme", e.ID, " "), webhook.ErrInvalid, "a reason is required")
	require.NoError(t, f.d.DisableEndpoint(ctx, "acme", e.ID, "paused by its owner"))
	require.NoError(t, f.d.DisableEndpoint(ctx, "acme", e.ID, "again"))
	got, _ = f.d.GetEndpoint(ctx, "acme", e.ID)
	assert.Equal(t, "paused by its owner", got.DisabledReason, "the first reason stays")
	require.NoError(t, f.d.EnableEndpoint(ctx, "acme", e.ID))
	got, _ = f.d.GetEndpoint(ctx, "acme", e.ID)
	assert.Empty(t, got.DisabledReason)

	list, err := f.d.ListEndpoints(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, f.d.DeleteEndpoint(ctx, "acme", e.ID))
	_, err = f.d.GetEndpoint(ctx, "acme", e.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
}

func manyEntries(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

// TestEndpointMethodsAreTenantScoped calls every lifecycle method with
// another tenant's endpoint ID: each is not found, and nothing changes.
func TestEndpointMethodsAreTenantScoped(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	e, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://a.example.com"})
	require.NoError(t, err)
	_, err = f.d.GetEndpoint(ctx, "globex", e.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = f.d.UpdateEndpoint(ctx, "globex", e.ID, webhook.EndpointSpec{URL: "https://evil.example.com"})
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	assert.ErrorIs(t, f.d.DisableEndpoint(ctx, "globex", e.ID, "mine now"), webhook.ErrNotFound)
	assert.ErrorIs(t, f.d.EnableEndpoint(ctx, "globex", e.ID), webhook.ErrNotFound)
	_, err = f.d.RotateSecret(ctx, "globex", e.ID, 0)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	assert.ErrorIs(t, f.d.DeleteEndpoint(ctx, "globex", e.ID), webhook.ErrNotFound)
	list, err := f.d.ListEndpoints(ctx, "globex")
	require.NoError(t, err)
	assert.Empty(t, list)
	got, err := f.d.GetEndpoint(ctx, "acme", e.ID)
	require.NoError(t, err)
	assert.Equal(t, e.Version, got.Version, "another tenant changed the endpoint")
}

// TestDisabledEndpointGetsNothingUntilEnabled: deliveries queued before
// an endpoint was disabled die; after EnableEndpoint new ones are
// delivered.
func TestDisabledEndpointGetsNothingUntilEnabled(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 204)
	ctx := context.Background()
	e := f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "queued-before")
	require.NoError(t, f.d.DisableEndpoint(ctx, "acme", e.ID, "maintenance"))
	f.send(t, "while-disabled") // queues nothing: Send skips disabled endpoints
	f.run(t)
	dead := f.waitFor(t, "acme", webhook.StateDead, 1)
	assert.Contains(t, dead[0].LastError, "maintenance")
	require.NoError(t, f.d.EnableEndpoint(ctx, "acme", e.ID))
	f.send(t, "after")
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	assert.Equal(t, 1, r.count(), "the disabled endpoint was posted to")
}

// TestRotateSecretOverlap: after a rotation both secrets sign until the
// overlap ends, then only the new one; the scheme is kept.
func TestRotateSecretOverlap(t *testing.T) {
	for _, scheme := range []string{webhook.SchemeHMAC, webhook.SchemeEd25519} {
		t.Run(scheme, func(t *testing.T) {
			f := newDeliveryFixture(t)
			r := newReceiver(t, 204)
			ctx := context.Background()
			e, oldKey, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: r.URL, Signature: scheme})
			require.NoError(t, err)
			wantPrefix := map[string]string{webhook.SchemeHMAC: webhook.SecretPrefix, webhook.SchemeEd25519: webhook.PublicKeyPrefix}[scheme]
			assert.True(t, strings.HasPrefix(oldKey, wantPrefix), "created: %.8s…", oldKey)

			newKey, err := f.d.RotateSecret(ctx, "acme", e.ID, time.Hour)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(newKey, wantPrefix), "rotated: %.8s…", newKey)
			assert.NotEqual(t, oldKey, newKey)

			f.run(t)
			f.send(t, "during-overlap")
			f.waitFor(t, "acme", webhook.StateSucceeded, 1)
			f.clock.Advance(time.Hour)
			f.send(t, "after-overlap")
			f.waitFor(t, "acme", webhook.StateSucceeded, 2)

			verifies := func(key string, i int) bool {
				v, err := webhook.NewVerifier(webhook.VerifyOptions{Now: f.clock.Now, Tolerance: 2 * time.Hour}, key)
				require.NoError(t, err)
				r.mu.Lock()
				h, body := r.got[i].Clone(), r.bodies[i]
				r.mu.Unlock()
				return v.Verify(h, []byte(body)) == nil
			}
			first := indexOf(t, r, "during-overlap")
			second := indexOf(t, r, "after-overlap")
			assert.True(t, verifies(oldKey, first), "the old secret stopped signing during the overlap")
			assert.True(t, verifies(newKey, first), "the new secret does not sign")
			assert.False(t, verifies(oldKey, second), "the old secret still signs after the overlap")
			assert.True(t, verifies(newKey, second), "the new secret does not sign after the overlap")
		})
	}
}

// indexOf finds the request that carried the message.
func indexOf(t *testing.T, r *receiver, msgID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, h := range r.got {
		if h.Get("webhook-id") == msgID {
			return i
		}
	}
	t.Fatalf("message %s never arrived", msgID)
	return -1
}

// TestRotateSecretKeepsAtMostFive: rotations within an overlap keep the
// newest five secrets; the verifier of the endpoint trusts those.
func TestRotateSecretKeepsAtMostFive(t *testing.T) {
	f := newDeliveryFixture(t)
	ctx := context.Background()
	e, first, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://a.example.com"})
	require.NoError(t, err)
	keys := []string{first}
	for range 6 {
		k, err := f.d.RotateSecret(ctx, "acme", e.ID, 0)
		require.NoError(t, err)
		keys = append(keys, k)
	}
	got, err := f.d.GetEndpoint(ctx, "acme", e.ID)
	require.NoError(t, err)
	assert.Len(t, got.Secrets, 5)
	assert.Equal(t, f.clock.Now().Add(webhook.DefaultSecretOverlap), got.PreviousSecretsUntil)
	v, err := f.d.Verifier(ctx, "acme", webhook.VerifyOptions{Now: f.clock.Now}, e.ID)
	require.NoError(t, err)
	sign := func(secret string) http.Header {
		s, err := webhook.NewSigner(secret)
		require.NoError(t, err)
		h := http.Header{}
		require.NoError(t, s.SetHeaders(h, "msg_1", f.clock.Now(), []byte("{}")))
		return h
	}
	for i, k := range keys {
		err := v.Verify(sign(k), []byte("{}"))
		if i < 2 {
			assert.ErrorIs(t, err, webhook.ErrNoMatch, "secret %d was dropped", i)
		} else {
			assert.NoError(t, err, "secret %d is kept", i)
		}
	}
	_, err = f.d.RotateSecret(ctx, "acme", e.ID, -time.Second)
	assert.ErrorIs(t, err, webhook.ErrInvalid)
}

// TestEndpointHeadersAndAuth: custom headers and the receiver's
// authentication go with every delivery; headers a delivery sets itself
// are refused, and an update without Auth keeps it.
func TestEndpointHeadersAndAuth(t *testing.T) {
	f := newDeliveryFixture(t)
	r := newReceiver(t, 204)
	ctx := context.Background()
	for name, spec := range map[string]webhook.EndpointSpec{
		"host":            {Headers: map[string]string{"Host": "evil.example.com"}},
		"signature":       {Headers: map[string]string{"webhook-signature": "v1,forged"}},
		"authorization":   {Headers: map[string]string{"authorization": "Bearer x"}},
		"content type":    {Headers: map[string]string{"Content-Type": "text/plain"}},
		"hop by hop":      {Headers: map[string]string{"Transfer-Encoding": "chunked"}},
		"bad name":        {Headers: map[string]string{"X Team": "a"}},
		"header split":    {Headers: map[string]string{"X-Team": "a\r\nX-Injected: 1"}},
		"not utf-8":       {Headers: map[string]string{"X-Team": "\xff"}},
		"too large":       {Headers: map[string]string{"X-Big": strings.Repeat("a", 5000)}},
		"unknown scheme":  {Auth: &webhook.EndpointAuth{Scheme: "digest", Token: "t"}},
		"bearer no token": {Auth: &webhook.EndpointAuth{Scheme: "bearer"}},
		"basic colon":     {Auth: &webhook.EndpointAuth{Scheme: "basic", Username: "a:b", Password: "p"}},
	} {
		spec.URL = r.URL
		_, _, err := f.d.CreateEndpoint(ctx, "acme", spec)
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}

	e, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{
		URL: r.URL, Headers: map[string]string{"X-Team": "billing"}, Auth: &webhook.EndpointAuth{Scheme: "bearer", Token: "tok_secret"},
	})
	require.NoError(t, err)
	assert.NotContains(t, string(e.Auth), "tok_secret", "the token is stored in the clear")
	f.run(t)
	f.send(t, "first")
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)
	first := r.got[indexOf(t, r, "first")]
	assert.Equal(t, "billing", first.Get("X-Team"))
	assert.Equal(t, "Bearer tok_secret", first.Get("Authorization"))

	// An update without Auth keeps it; a zero EndpointAuth removes it.
	_, err = f.d.UpdateEndpoint(ctx, "acme", e.ID, webhook.EndpointSpec{URL: r.URL, Headers: map[string]string{"X-Team": "payments"}})
	require.NoError(t, err)
	f.send(t, "second")
	f.waitFor(t, "acme", webhook.StateSucceeded, 2)
	second := r.got[indexOf(t, r, "second")]
	assert.Equal(t, "payments", second.Get("X-Team"))
	assert.Equal(t, "Bearer tok_secret", second.Get("Authorization"))

	_, err = f.d.UpdateEndpoint(ctx, "acme", e.ID, webhook.EndpointSpec{URL: r.URL, Auth: &webhook.EndpointAuth{Scheme: "basic", Username: "hooks", Password: "pw"}})
	require.NoError(t, err)
	f.send(t, "third")
	f.waitFor(t, "acme", webhook.StateSucceeded, 3)
	third := r.got[indexOf(t, r, "third")]
	assert.Empty(t, third.Get("X-Team"))
	assert.Equal(t, "Basic aG9va3M6cHc=", third.Get("Authorization"))

	_, err = f.d.UpdateEndpoint(ctx, "acme", e.ID, webhook.EndpointSpec{URL: r.URL, Auth: &webhook.EndpointAuth{}})
	require.NoError(t, err)
	got, _ := f.d.GetEndpoint(ctx, "acme", e.ID)
	assert.Nil(t, got.Auth, "a zero EndpointAuth removes it")
}
