package jetstream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	ejs "github.com/saaskit/saaskit/events/jetstream"
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
func connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
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
	return nc, js
}

// newStream creates a stream with a unique name and prefix, deleted when
// t ends.
func newStream(t testing.TB, js jetstream.JetStream) (name, prefix string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	name, prefix = "EVT_"+strings.ToUpper(suffix), "ev"+suffix
	_, err := ejs.EnsureStream(context.Background(), js, name, ejs.StreamOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = js.DeleteStream(context.Background(), name)
		_ = js.DeleteStream(context.Background(), ejs.DeadLetterStream(name))
	})
	return name, prefix
}

// streamMessages returns every message in stream, in order.
func streamMessages(t testing.TB, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for {
		info, err := cons.Info(ctx)
		require.NoError(t, err)
		if info.NumPending == 0 {
			return out
		}
		batch, err := cons.Fetch(int(min(info.NumPending, 1000)))
		require.NoError(t, err)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		require.NoError(t, batch.Error())
	}
}
