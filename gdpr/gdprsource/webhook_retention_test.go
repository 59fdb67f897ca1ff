package gdprsource_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprsource"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/webhook"
	webhookmem "github.com/saaskit/saaskit/webhook/memstore"
)

// TestWebhookExportOfExpungedPayload: once the queue's retention has
// removed a message's payload, the export still lists the message, and
// says that its payload is gone.
func TestWebhookExportOfExpungedPayload(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	ws := webhookmem.New()
	d, err := webhook.NewDispatcher(ws, ws, func(string) webhook.AEAD { return nil }, webhook.DispatcherOptions{Now: clock.Now})
	require.NoError(t, err)
	ep := &webhook.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://hooks.example.com/x"}
	msg := &webhook.Message{ID: "msg_1", TenantID: "acme", EventType: "user.created", Subject: "usr_ada",
		Payload: json.RawMessage(`{"plan":"gold-7731"}`), CreatedAt: start}
	require.NoError(t, ws.Enqueue(ctx, msg, []*webhook.Endpoint{ep}))
	claimed, err := ws.Claim(ctx, start, time.Minute, 1, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	claimed[0].State, claimed[0].Attempts = webhook.StateSucceeded, 1
	require.NoError(t, ws.Complete(ctx, claimed[0], webhook.Attempt{At: start, Status: 200}))
	clock.Advance(48 * time.Hour)
	res, err := d.Expire(ctx, webhook.Retention{Payload: 24 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, 1, res.Payloads)

	e, err := gdpr.New(memstore.New(), gdpr.Options{}, gdprsource.Webhook(d))
	require.NoError(t, err)
	access := gdprtest.SubmitVerified(t, e, gdpr.Access, ada)
	var out strings.Builder
	require.NoError(t, e.Export(ctx, "acme", access.ID, gdpr.JSON, &out))
	assert.Contains(t, out.String(), `"msg_1"`, "the message is exported")
	assert.Contains(t, out.String(), `"payload_expunged":true`)
	assert.NotContains(t, out.String(), "gold-7731")
}
