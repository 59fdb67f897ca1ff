package events_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/memstore"
)

func TestRelayStopsAnAggregateAtItsFirstFailure(t *testing.T) {
	ctx := context.Background()
	outbox, stream := memstore.New(), memstore.NewStream()
	var e1, e2, e3 events.Event
	for _, e := range []*events.Event{&e1, &e2, &e3} {
		*e = events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: "order/1"}
	}
	require.NoError(t, outbox.Append(ctx, &e1, &e2, &e3))
	stream.Fail = func(e *events.Event) error {
		if e.ID == e2.ID {
			return errors.New("unavailable")
		}
		return nil
	}
	r, err := events.NewRelay(outbox, stream, events.RelayOptions{})
	require.NoError(t, err)
	n, err := r.RelayOnce(ctx)
	assert.Equal(t, 1, n)
	assert.ErrorContains(t, err, "unavailable")
	assert.Equal(t, 2, outbox.Pending(), "e3 waits behind e2")
	stream.Fail = nil
	n, err = r.RelayOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	var ids []string
	for _, e := range stream.Events() {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{e1.ID, e2.ID, e3.ID}, ids)
}

func TestPrepareValidates(t *testing.T) {
	e := &events.Event{TenantID: "acme", Type: "user.created"}
	require.NoError(t, events.Prepare(context.Background(), e, e.OccurredAt))
	assert.Equal(t, e.ID, e.AggregateKey)
	_, err := events.NewRelay(nil, nil, events.RelayOptions{})
	assert.ErrorIs(t, err, events.ErrInvalid)
}
