package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/eventstest"
	"github.com/saaskit/saaskit/events/redisstore"
	"github.com/saaskit/saaskit/internal/redistest"
)

func TestInboxConformance(t *testing.T) {
	c := redistest.Client(t)
	eventstest.RunInboxTests(t, func(t *testing.T) events.Inbox {
		return redisstore.NewInbox(c, redisstore.Options{Prefix: redistest.Prefix(t, c)})
	})
}

// TestLockOfADeadProcess: a process that died holding an aggregate's
// lock delays its redelivery by at most LockFor; the event then runs.
func TestLockOfADeadProcess(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	prefix := redistest.Prefix(t, c)
	in := redisstore.NewInbox(c, redisstore.Options{Prefix: prefix, LockFor: 50 * time.Millisecond})
	e := &events.Event{ID: "e1", TenantID: "acme", Type: "x", Version: 1, AggregateKey: "a", AggregateSeq: 1}
	require.NoError(t, c.Set(ctx, prefix+"events:inbox:{billing\x00acme\x00a}:lock", "a dead process", 50*time.Millisecond).Err())
	ran := 0
	o, err := in.Process(ctx, "billing", e, func(context.Context, *events.Event) error { ran++; return nil })
	require.NoError(t, err)
	assert.Equal(t, events.Handled, o)
	assert.Equal(t, 1, ran)
}

// TestProcessEndsWithItsContext: waiting on another process's lock
// ends with the caller's context.
func TestProcessEndsWithItsContext(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	in := redisstore.NewInbox(c, redisstore.Options{Prefix: prefix})
	require.NoError(t, c.Set(context.Background(), prefix+"events:inbox:{billing\x00acme\x00a}:lock", "another process", time.Minute).Err())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &events.Event{ID: "e1", TenantID: "acme", Type: "x", Version: 1, AggregateKey: "a", AggregateSeq: 1}
	_, err := in.Process(ctx, "billing", e, func(context.Context, *events.Event) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
}
