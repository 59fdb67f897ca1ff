package pubsubdest_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"
	"gocloud.dev/pubsub/rabbitpubsub"

	"github.com/saaskit/saaskit/webhook/pubsubdest"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// topicURL names a topic of the tenant's, unique to this run.
func topicURL(scheme string) func(tenantID, name string) string {
	run := strings.ToLower(rand.Text()[:8])
	return func(tenantID, name string) string {
		return scheme + "://" + pubsubdest.DefaultPrefix(tenantID) + name + "-" + run
	}
}

// header turns a message's metadata back into headers, as a consumer
// verifying the signature does.
func header(md map[string]string) http.Header {
	h := http.Header{}
	for k, v := range md {
		h.Set(k, v)
	}
	return h
}

func TestMemPubSub(t *testing.T) {
	mux := new(pubsub.URLMux)
	opener := new(mempubsub.URLOpener)
	mux.RegisterTopic(mempubsub.Scheme, opener)
	mux.RegisterSubscription(mempubsub.Scheme, opener)
	dest := pubsubdest.New(pubsubdest.Options{Mux: mux})
	t.Cleanup(func() { _ = dest.Close(context.Background()) })
	webhooktest.RunDestinationTests(t, webhooktest.DestinationHarness{
		Scheme:      mempubsub.Scheme,
		Destination: dest,
		URL:         topicURL(mempubsub.Scheme),
		Open: func(t *testing.T, u string) func(t *testing.T) webhooktest.ReceivedMessage {
			// A memory topic exists once opened; its subscription sees
			// what is sent after it.
			topic, err := mux.OpenTopic(t.Context(), u)
			require.NoError(t, err)
			t.Cleanup(func() { _ = topic.Shutdown(context.Background()) })
			sub, err := mux.OpenSubscription(t.Context(), u)
			require.NoError(t, err)
			t.Cleanup(func() { _ = sub.Shutdown(context.Background()) })
			return receive(sub)
		},
		Unordered: true,
		Forbidden: []string{"mem://events.acme.order.created", "mem://webhooks", "mem://internal"},
	})
}

// receive returns a function that waits for sub's next message.
func receive(sub *pubsub.Subscription) func(t *testing.T) webhooktest.ReceivedMessage {
	return func(t *testing.T) webhooktest.ReceivedMessage {
		m, err := sub.Receive(context.Background())
		require.NoError(t, err)
		m.Ack()
		return webhooktest.ReceivedMessage{Header: header(m.Metadata), Body: m.Body}
	}
}

// rabbitURL is the server tests use: SAASKIT_TEST_RABBITMQ_URL, or the
// local default.
func rabbitURL() string {
	if u := os.Getenv("SAASKIT_TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// dialRabbit connects, skipping t when no server answers unless
// SAASKIT_REQUIRE_RABBITMQ=1, which fails it instead.
func dialRabbit(t *testing.T) *amqp.Connection {
	conn, err := amqp.Dial(rabbitURL())
	if err != nil {
		if os.Getenv("SAASKIT_REQUIRE_RABBITMQ") == "1" {
			t.Fatalf("SAASKIT_REQUIRE_RABBITMQ=1 but RabbitMQ at %s is unreachable: %v", rabbitURL(), err)
		}
		t.Skipf("RabbitMQ is unreachable (set SAASKIT_TEST_RABBITMQ_URL): skipping: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestRabbitMQ: a topic is an exchange, which Open declares (until
// then, publishing fails) with a queue bound to it.
func TestRabbitMQ(t *testing.T) {
	conn := dialRabbit(t)
	mux := new(pubsub.URLMux)
	opener := &rabbitpubsub.URLOpener{Connection: conn}
	mux.RegisterTopic(rabbitpubsub.Scheme, opener)
	mux.RegisterSubscription(rabbitpubsub.Scheme, opener)
	dest := pubsubdest.New(pubsubdest.Options{Mux: mux})
	t.Cleanup(func() { _ = dest.Close(context.Background()) })
	webhooktest.RunDestinationTests(t, webhooktest.DestinationHarness{
		Scheme:      rabbitpubsub.Scheme,
		Destination: dest,
		URL:         topicURL(rabbitpubsub.Scheme),
		Open: func(t *testing.T, u string) func(t *testing.T) webhooktest.ReceivedMessage {
			parsed, err := url.Parse(u)
			require.NoError(t, err)
			exchange := parsed.Host
			ch, err := conn.Channel()
			require.NoError(t, err)
			defer ch.Close()
			require.NoError(t, ch.ExchangeDeclare(exchange, "fanout", false, true, false, false, nil))
			q, err := ch.QueueDeclare(exchange+".q", false, true, false, false, nil)
			require.NoError(t, err)
			require.NoError(t, ch.QueueBind(q.Name, "", exchange, false, nil))
			sub, err := mux.OpenSubscription(t.Context(), "rabbit://"+q.Name)
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = sub.Shutdown(context.Background())
				if ch, err := conn.Channel(); err == nil {
					_, _ = ch.QueueDelete(q.Name, false, false, false)
					_ = ch.ExchangeDelete(exchange, false, false)
					_ = ch.Close()
				}
			})
			return receive(sub)
		},
		FailsBeforeOpen: true,
		Forbidden:       []string{"rabbit://amq.direct", "rabbit://amq.topic", "rabbit://events", "rabbit://webhooks"},
	})
}
