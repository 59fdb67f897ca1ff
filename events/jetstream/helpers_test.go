package jetstream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/natstest"
)

// connect returns a JetStream client on the test server (natstest).
func connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natstest.Connect(t)
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

// handledIDs records, in order, the IDs of the events a handler ran for.
type handledIDs struct {
	mu  sync.Mutex
	ids []string
}

// handle is an events.Handler that records e.
func (h *handledIDs) handle(_ context.Context, e *events.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, e.ID)
	return nil
}

// list returns the IDs recorded so far.
func (h *handledIDs) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids)
}

// runUntil runs cons until the recorder holds n events, stops it, and
// returns their IDs.
func (h *handledIDs) runUntil(t *testing.T, cons *ejs.Consumer, n int, what string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = cons.Run(ctx) })
	await.True(t, func() bool { return len(h.list()) == n }, what)
	cancel()
	wg.Wait()
	return h.list()
}
