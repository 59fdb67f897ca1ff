package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/natstest"
)

// TestEventsForPinnedConsumers: a consumer pinned to an API version gets
// the demo's user.created as that version has it, rendered by the
// demo's versioning API, the way endpoints pinned to it get the
// webhook; the stream keeps the event as published.
func TestEventsForPinnedConsumers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := natstest.Connect(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	stream, prefix := "DEMO_"+strings.ToUpper(hex.EncodeToString(b)), "demo"+hex.EncodeToString(b)
	_, err := ejs.EnsureStream(ctx, js, stream, ejs.StreamOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = js.DeleteStream(context.Background(), stream)
		_ = js.DeleteStream(context.Background(), ejs.DeadLetterStream(stream))
	})
	api, err := newAPI(nil)
	require.NoError(t, err)

	payload, err := json.Marshal(map[string]any{"type": "user.created", "data": user{ID: "usr_1", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace"}})
	require.NoError(t, err)
	outbox := memstore.New()
	require.NoError(t, outbox.Append(ctx, &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/usr_1", SubjectKey: "usr_1", Payload: payload}))
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream})
	require.NoError(t, err)
	relay, err := events.NewRelay(outbox, pub, events.RelayOptions{})
	require.NoError(t, err)
	_, err = relay.RelayOnce(ctx)
	require.NoError(t, err)

	var mu sync.Mutex
	got := map[string]string{}
	for _, version := range apiVersions {
		name := "pinned-" + strings.ReplaceAll(version, "-", "")
		cons, err := ejs.NewConsumer(ctx, js, stream, name, memstore.NewInbox(), func(_ context.Context, e *events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got[version] = string(e.Payload)
			return nil
		}, ejs.ConsumerOptions{Render: func(_ context.Context, e *events.Event) ([]byte, error) {
			return api.RenderPayload(version, payloadType(e.Type), e.Payload)
		}})
		require.NoError(t, err)
		go func() { _ = cons.Run(ctx) }()
	}
	await.True(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(apiVersions) }, "every pinned consumer handled the event")
	mu.Lock()
	defer mu.Unlock()
	assert.JSONEq(t, `{"type":"user.created","data":{"id":"usr_1","email":"ada@example.com","name":"Ada Lovelace"}}`, got["2024-01-01"])
	assert.JSONEq(t, `{"type":"user.created","data":{"id":"usr_1","email_address":"ada@example.com","name":"Ada Lovelace"}}`, got["2024-06-01"])
	assert.JSONEq(t, string(payload), got["2025-01-01"])
}
