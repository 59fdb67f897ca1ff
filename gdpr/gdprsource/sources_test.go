package gdprsource_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprsource"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/webhook"
	webhookmem "github.com/saaskit/saaskit/webhook/memstore"
)

// TestSaaskitSources erases a user known to webhook messages and to the
// keyring: the messages go, the keys are shredded (their ciphertexts
// fail with ErrKeyDestroyed), and the crypto step says backups are
// covered.
func TestSaaskitSources(t *testing.T) {
	ctx := context.Background()
	cs := cryptomem.New()
	keys, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), cs, cs, skcrypto.Options{})
	require.NoError(t, err)
	ws := webhookmem.New()
	d, err := webhook.NewDispatcher(ws, ws, func(tenant string) webhook.AEAD {
		return keys.AEAD(skcrypto.Scope{Tenant: tenant, Subject: "webhook-secrets"})
	}, webhook.DispatcherOptions{})
	require.NoError(t, err)
	_, _, err = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.example.com/x"})
	require.NoError(t, err)
	_, err = d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "user.created", Subject: "usr_ada", Payload: json.RawMessage(`{"email":"ada@example.com"}`)})
	require.NoError(t, err)
	scope := skcrypto.Scope{Tenant: "acme", Subject: "usr_ada"}
	ct, err := keys.Encrypt(ctx, scope, []byte("ada@example.com"), nil)
	require.NoError(t, err)

	hooks := gdprsource.Webhook(d)
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, hooks, gdprsource.Crypto(keys, hooks.Info().Name))
	require.NoError(t, err)

	access := gdprtest.SubmitVerified(t, e, gdpr.Access, ada)
	var out strings.Builder
	require.NoError(t, e.Export(ctx, "acme", access.ID, gdpr.JSON, &out))
	assert.Contains(t, out.String(), "ada@example.com", "the webhook payload is part of the export")

	r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
	r, err = e.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Steps["webhook.messages"].Records)
	assert.Contains(t, r.Steps["crypto.subject-keys"].Note, "backups included")
	_, err = keys.Decrypt(ctx, scope, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)
	msgs, err := d.ExportSubject(ctx, "acme", "usr_ada")
	require.NoError(t, err)
	assert.Empty(t, msgs)
}

// ada is known to the sources by her user ID and her email address.
var ada = gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}, {Kind: "email", Value: "ada@example.com"}}}

// TestWebhookSourceConformance runs the gdpr.Source suite on the webhook
// messages of a subject.
func TestWebhookSourceConformance(t *testing.T) {
	gdprtest.RunSourceTests(t, func(t *testing.T) gdprtest.SourceFixture {
		ws := webhookmem.New()
		d, err := webhook.NewDispatcher(ws, ws, func(string) webhook.AEAD { return nil }, webhook.DispatcherOptions{})
		require.NoError(t, err)
		return gdprtest.SourceFixture{Source: gdprsource.Webhook(d), Add: func(t *testing.T, tenant string, s gdpr.Subject) {
			ep := &webhook.Endpoint{ID: "ep_" + tenant, TenantID: tenant, URL: "https://hooks.example.com/" + tenant}
			if _, err := ws.GetEndpoint(context.Background(), tenant, ep.ID); err != nil {
				require.NoError(t, ws.CreateEndpoint(context.Background(), ep))
			}
			_, err := d.Send(context.Background(), &webhook.Message{TenantID: tenant, EventType: "user.created",
				Subject: s.Value(gdpr.SubjectKey), Payload: json.RawMessage(`{}`)})
			require.NoError(t, err)
		}}
	})
}
