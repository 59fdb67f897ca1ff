package jetstream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/memstore"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/versioning"
)

// TestRenderForPinnedVersion: a consumer pinned to an older API version
// gets the payload as that version has it, rendered by package
// versioning; one that cannot be rendered is dead-lettered, naming why.
func TestRenderForPinnedVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := connect(t)
	stream, prefix := newStream(t, js)
	api, err := versioning.New(versioning.Options{
		Versions: []string{"2024-01-01", "2024-06-01"},
		Changes: []versioning.Change{{Version: "2024-06-01", Description: "`email` is renamed `email_address`.",
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("email_address", "email")}}}},
	})
	require.NoError(t, err)
	pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix})
	require.NoError(t, err)
	outbox := memstore.New()
	created := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/1", SubjectKey: "1",
		Payload: []byte(`{"type":"user.created","data":{"id":"1","email_address":"ada@example.com"}}`)}
	require.NoError(t, outbox.Append(ctx, created))
	relay, err := events.NewRelay(outbox, pub, events.RelayOptions{})
	require.NoError(t, err)
	_, err = relay.RelayOnce(ctx)
	require.NoError(t, err)

	pinned := func(version string) func(context.Context, *events.Event) ([]byte, error) {
		return func(_ context.Context, e *events.Event) ([]byte, error) {
			return api.RenderPayload(version, "user", e.Payload)
		}
	}
	var mu sync.Mutex
	got := map[string][]byte{}
	handler := func(name string) events.Handler {
		return func(_ context.Context, e *events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got[name] = e.Payload
			return nil
		}
	}
	for name, version := range map[string]string{"legacy": "2024-01-01", "current": "2024-06-01", "broken": "1999-01-01"} {
		cons, err := ejs.NewConsumer(ctx, js, stream, name, memstore.NewInbox(), handler(name),
			ejs.ConsumerOptions{Render: pinned(version), MaxDeliver: 1, Backoff: []time.Duration{time.Millisecond}})
		require.NoError(t, err)
		go func() { _ = cons.Run(ctx) }()
	}
	await.True(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 }, "legacy and current handled the event")
	await.True(t, func() bool {
		st, err := js.Stream(ctx, ejs.DeadLetterStream(stream))
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, "the unrenderable event is dead-lettered")
	mu.Lock()
	defer mu.Unlock()
	assert.JSONEq(t, `{"type":"user.created","data":{"id":"1","email":"ada@example.com"}}`, string(got["legacy"]))
	assert.JSONEq(t, string(created.Payload), string(got["current"]))
	assert.NotContains(t, got, "broken")
	dead := streamMessages(t, js, ejs.DeadLetterStream(stream))
	require.Len(t, dead, 1)
	assert.Contains(t, dead[0].Headers().Get("Saaskit-Dead-Letter-Reason"), "render event "+created.ID)
	assert.JSONEq(t, string(created.Payload), string(dead[0].Data()), "the dead letter keeps the payload as published")
}
