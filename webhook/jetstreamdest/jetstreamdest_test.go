package jetstreamdest_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/jetstreamdest"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// natsURL is the server tests use: SAASKIT_TEST_NATS_URL, or the local
// default.
func natsURL() string {
	if u := os.Getenv("SAASKIT_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// connect returns a JetStream client, skipping t when no server answers
// unless SAASKIT_REQUIRE_NATS=1, which fails it instead.
func connect(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL())
	if err != nil {
		if os.Getenv("SAASKIT_REQUIRE_NATS") == "1" {
			t.Fatalf("SAASKIT_REQUIRE_NATS=1 but NATS at %s is unreachable: %v", natsURL(), err)
		}
		t.Skipf("NATS at %s is unreachable (set SAASKIT_TEST_NATS_URL): skipping: %v", natsURL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// harness runs the conformance suite on js: each topic is a subject
// of its own, whose stream Open creates.
func harness(js jetstream.JetStream, dest *jetstreamdest.Destination) webhooktest.DestinationHarness {
	return webhooktest.DestinationHarness{
		Scheme:      jetstreamdest.Scheme,
		Destination: dest,
		URL: func(tenantID, name string) string {
			return "nats://" + jetstreamdest.DefaultPrefix(tenantID) + name
		},
		Open: func(t *testing.T, url string) func(t *testing.T) webhooktest.ReceivedMessage {
			msgs := openStream(t, js, strings.TrimPrefix(url, "nats://"))
			return func(t *testing.T) webhooktest.ReceivedMessage {
				m, err := msgs.Next()
				require.NoError(t, err)
				return webhooktest.ReceivedMessage{Header: http.Header(m.Headers()), Body: m.Data()}
			}
		},
		FailsBeforeOpen: true,
		Forbidden:       []string{"nats://$JS.API.STREAM.CREATE.EVIL", "nats://events.acme.order.created", "nats://webhooks", "nats://webhooks.>"},
	}
}

// openStream creates a stream of its own for subject, deleted when t
// ends, and returns an iterator over its messages.
func openStream(t *testing.T, js jetstream.JetStream, subject string) jetstream.MessagesContext {
	ctx := context.Background()
	name := "WH_" + rand.Text()[:12]
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	t.Cleanup(func() { _ = js.DeleteStream(ctx, name) })
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	msgs, err := cons.Messages()
	require.NoError(t, err)
	t.Cleanup(msgs.Stop)
	return msgs
}

func TestDestinationConformance(t *testing.T) {
	js := connect(t)
	dest, err := jetstreamdest.New(js, jetstreamdest.Options{})
	require.NoError(t, err)
	webhooktest.RunDestinationTests(t, harness(js, dest))
}

func TestAckNamesStreamAndSequence(t *testing.T) {
	js := connect(t)
	dest, err := jetstreamdest.New(js, jetstreamdest.Options{})
	require.NoError(t, err)
	h := harness(js, dest)
	url := h.URL("acme", "ack"+strings.ToLower(rand.Text()[:8]))
	_ = h.Open(t, url)
	target, err := neturl.Parse(url)
	require.NoError(t, err)
	require.NoError(t, dest.Check("acme", target))
	res, err := dest.Deliver(t.Context(), nil, &webhook.DestinationRequest{Target: target, Header: http.Header{"Webhook-Id": {"msg_1"}}, Body: []byte(`{}`), DeliveryID: "dlv_1"})
	require.NoError(t, err)
	var ack jetstreamdest.Ack
	require.NoError(t, json.Unmarshal(res.Response, &ack))
	assert.Equal(t, strings.TrimPrefix(url, "nats://"), ack.Subject)
	assert.True(t, strings.HasPrefix(ack.Stream, "WH_"), ack.Stream)
	assert.Equal(t, uint64(1), ack.Sequence)
	assert.False(t, ack.Duplicate)

	// A retry of the same delivery whose ack was lost is dropped by the
	// stream's duplicate window.
	res, err = dest.Deliver(t.Context(), nil, &webhook.DestinationRequest{Target: target, Header: http.Header{}, Body: []byte(`{}`), DeliveryID: "dlv_1"})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(res.Response, &ack))
	assert.True(t, ack.Duplicate)
	assert.Equal(t, uint64(1), ack.Sequence)
}
