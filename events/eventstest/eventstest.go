// Package eventstest is the conformance suite of events.Store and
// events.Inbox adapters. Every adapter in saaskit runs it, and so can a
// third party's:
//
//	func TestConformance(t *testing.T) {
//		eventstest.RunStoreTests(t, func(t *testing.T) events.Store { return newStore(t) })
//		eventstest.RunInboxTests(t, func(t *testing.T) events.Inbox { return newInbox(t) })
//	}
package eventstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/memstore"
)

// RunStoreTests checks the promises of events.Store on stores that
// newStore returns, each fresh and empty.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) events.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("AppendAssignsDefaultsAndAggregateSequence", func(t *testing.T) {
		s := newStore(t)
		a1 := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/1", Payload: []byte(`{"n":1}`)}
		a2 := &events.Event{TenantID: "acme", Type: "user.updated", AggregateKey: "user/1"}
		b1 := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/2"}
		other := &events.Event{TenantID: "globex", Type: "user.created", AggregateKey: "user/1"}
		require.NoError(t, s.Append(ctx, a1, a2, b1))
		require.NoError(t, s.Append(ctx, other))
		assert.Equal(t, []int64{1, 2, 1, 1}, []int64{a1.AggregateSeq, a2.AggregateSeq, b1.AggregateSeq, other.AggregateSeq})
		assert.NotEmpty(t, a1.ID)
		assert.Equal(t, 1, a1.Version)
		assert.False(t, a1.OccurredAt.IsZero())
		a3 := &events.Event{TenantID: "acme", Type: "user.deleted", AggregateKey: "user/1"}
		require.NoError(t, s.Append(ctx, a3))
		assert.Equal(t, int64(3), a3.AggregateSeq)
	})

	t.Run("AppendRejectsInvalidAndDuplicateEvents", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []*events.Event{
			{TenantID: "", Type: "user.created"},
			{TenantID: "acme", Type: "User Created"},
			{TenantID: "ac.me", Type: "user.created"},
			{TenantID: "acme", Type: "user.created", Version: -1},
		} {
			assert.ErrorIs(t, s.Append(ctx, e), events.ErrInvalid, "%+v", e)
		}
		e := &events.Event{ID: "evt-1", TenantID: "acme", Type: "user.created"}
		require.NoError(t, s.Append(ctx, e))
		assert.Error(t, s.Append(ctx, &events.Event{ID: "evt-1", TenantID: "acme", Type: "user.created"}))
	})

	t.Run("ClaimLeasesALaneInWriteOrder", func(t *testing.T) {
		s := newStore(t)
		b, err := s.Claim(ctx, t0, time.Minute, 10)
		require.NoError(t, err)
		assert.Nil(t, b, "an empty outbox has no work")

		var evs []*events.Event
		for i := range 5 {
			evs = append(evs, &events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: "order/1", Payload: fmt.Appendf(nil, "%d", i),
				SubjectKey: "user-1", Trace: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
		}
		require.NoError(t, s.Append(ctx, evs...))
		b, err = s.Claim(ctx, t0, time.Minute, 3)
		require.NoError(t, err)
		require.NotNil(t, b)
		assert.Equal(t, events.Lane("acme", "order/1"), b.Lane)
		assert.NotEmpty(t, b.Token)
		require.Len(t, b.Events, 3)
		for i, e := range b.Events {
			assert.Equal(t, evs[i].ID, e.ID)
			assert.Equal(t, int64(i+1), e.AggregateSeq)
			assert.Equal(t, fmt.Appendf(nil, "%d", i), e.Payload)
			assert.Equal(t, "user-1", e.SubjectKey)
			assert.Equal(t, evs[i].Trace, e.Trace)
			assert.True(t, evs[i].OccurredAt.Equal(e.OccurredAt))
			assert.Equal(t, "order.changed", e.Type)
			assert.Equal(t, 1, e.Version)
		}
		again, err := s.Claim(ctx, t0.Add(59*time.Second), time.Minute, 3)
		require.NoError(t, err)
		assert.Nil(t, again, "the lane is leased")
		taken, err := s.Claim(ctx, t0.Add(time.Minute), time.Minute, 10)
		require.NoError(t, err)
		require.NotNil(t, taken, "an expired lease is free")
		assert.Len(t, taken.Events, 5)
		assert.NotEqual(t, b.Token, taken.Token)
	})

	t.Run("CompleteMarksRelayedAndReleases", func(t *testing.T) {
		s := newStore(t)
		var evs []*events.Event
		for range 4 {
			evs = append(evs, &events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: "order/1"})
		}
		require.NoError(t, s.Append(ctx, evs...))
		b, err := s.Claim(ctx, t0, time.Minute, 10)
		require.NoError(t, err)
		require.NotNil(t, b)
		require.NoError(t, s.Complete(ctx, b, []string{evs[0].ID, evs[1].ID}, t0.Add(time.Second)))
		b, err = s.Claim(ctx, t0.Add(2*time.Second), time.Minute, 10)
		require.NoError(t, err)
		require.NotNil(t, b, "released at once")
		require.Len(t, b.Events, 2)
		assert.Equal(t, evs[2].ID, b.Events[0].ID)
		// A stale holder's marks still count: the broker has the events.
		stale := *b
		stale.Token = "stale"
		require.NoError(t, s.Complete(ctx, &stale, []string{evs[2].ID}, t0.Add(3*time.Second)))
		_, err = s.Claim(ctx, t0.Add(3*time.Second), time.Minute, 10)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, b, []string{evs[3].ID}, t0.Add(4*time.Second)))
		b, err = s.Claim(ctx, t0.Add(2*time.Minute), time.Minute, 10)
		require.NoError(t, err)
		assert.Nil(t, b, "everything relayed")
	})

	t.Run("ClaimRotatesLanes", func(t *testing.T) {
		s := newStore(t)
		// Two aggregates in different lanes.
		a, b := "order/a", "order/b"
		for i := 0; events.Lane("acme", b) == events.Lane("acme", a); i++ {
			b = fmt.Sprintf("order/b%d", i)
		}
		require.NoError(t, s.Append(ctx, &events.Event{TenantID: "acme", Type: "x", AggregateKey: a}, &events.Event{TenantID: "acme", Type: "x", AggregateKey: b}))
		first, err := s.Claim(ctx, t0, time.Minute, 10)
		require.NoError(t, err)
		second, err := s.Claim(ctx, t0, time.Minute, 10)
		require.NoError(t, err)
		require.NotNil(t, first)
		require.NotNil(t, second, "another lane is free")
		assert.NotEqual(t, first.Lane, second.Lane)
		third, err := s.Claim(ctx, t0, time.Minute, 10)
		require.NoError(t, err)
		assert.Nil(t, third)
	})

	t.Run("RelaysShareTheStoreWithoutLossDuplicatesOrDisorder", func(t *testing.T) {
		s := newStore(t)
		stream := memstore.NewStream()
		var calls atomic.Int64
		stream.Fail = func(e *events.Event) error {
			if calls.Add(1)%7 == 0 {
				return errors.New("broker unavailable")
			}
			return nil
		}
		const n, aggregates = 300, 12
		for i := range n {
			require.NoError(t, s.Append(ctx, &events.Event{TenantID: "acme", Type: "order.changed",
				AggregateKey: fmt.Sprintf("order/%d", i%aggregates), Payload: fmt.Appendf(nil, "%d", i)}))
		}
		var wg sync.WaitGroup
		for range 3 {
			r, err := events.NewRelay(s, stream, events.RelayOptions{Workers: 2, BatchSize: 16, Backoff: time.Millisecond, PollInterval: time.Millisecond})
			require.NoError(t, err)
			wg.Go(func() {
				for {
					got, err := r.RelayOnce(ctx)
					if got == 0 && err == nil && len(stream.Events()) == n {
						return
					}
				}
			})
		}
		wg.Wait()
		got := stream.Events()
		require.Len(t, got, n)
		assert.Zero(t, stream.Duplicates(), "a leased lane is published by one relay")
		next := map[string]int64{}
		for _, e := range got {
			next[e.AggregateKey]++
			assert.Equal(t, next[e.AggregateKey], e.AggregateSeq, "aggregate %s out of order", e.AggregateKey)
		}
	})
}

// RunInboxTests checks the promises of events.Inbox on inboxes that
// newInbox returns, each fresh and empty.
func RunInboxTests(t *testing.T, newInbox func(t *testing.T) events.Inbox) {
	ctx := context.Background()
	ev := func(agg string, seq int64) *events.Event {
		return &events.Event{ID: fmt.Sprintf("%s-%d", agg, seq), TenantID: "acme", Type: "x", Version: 1, AggregateKey: agg, AggregateSeq: seq}
	}
	count := func(n *int) events.Handler {
		return func(context.Context, *events.Event) error { *n++; return nil }
	}

	t.Run("OncePerConsumerInOrder", func(t *testing.T) {
		in := newInbox(t)
		var ran int
		o, err := in.Process(ctx, "billing", ev("a", 2), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Early, o)
		o, err = in.Process(ctx, "billing", ev("a", 1), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		o, err = in.Process(ctx, "billing", ev("a", 1), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Duplicate, o)
		o, err = in.Process(ctx, "billing", ev("a", 2), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		assert.Equal(t, 2, ran)
		o, err = in.Process(ctx, "search", ev("a", 1), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o, "consumers are independent")
		other := ev("a", 1)
		other.TenantID = "globex"
		o, err = in.Process(ctx, "billing", other, count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o, "tenants are independent")
	})

	t.Run("FailedHandlerRecordsNothing", func(t *testing.T) {
		in := newInbox(t)
		boom := errors.New("boom")
		_, err := in.Process(ctx, "billing", ev("a", 1), func(context.Context, *events.Event) error { return boom })
		assert.ErrorIs(t, err, boom)
		var ran int
		o, err := in.Process(ctx, "billing", ev("a", 1), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		assert.Equal(t, 1, ran)
	})

	t.Run("NilHandlerRecords", func(t *testing.T) {
		in := newInbox(t)
		o, err := in.Process(ctx, "billing", ev("a", 1), nil)
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		var ran int
		o, err = in.Process(ctx, "billing", ev("a", 2), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
	})

	t.Run("NilHandlerRecordsPastAGap", func(t *testing.T) {
		in := newInbox(t)
		var ran int
		_, err := in.Process(ctx, "billing", ev("a", 1), count(&ran))
		require.NoError(t, err)
		o, err := in.Process(ctx, "billing", ev("a", 4), nil)
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o, "positions 2 and 3 are skipped")
		for _, seq := range []int64{2, 3, 4} {
			o, err = in.Process(ctx, "billing", ev("a", seq), count(&ran))
			require.NoError(t, err)
			assert.Equal(t, events.Duplicate, o, "position %d", seq)
		}
		o, err = in.Process(ctx, "billing", ev("a", 3), nil)
		require.NoError(t, err)
		assert.Equal(t, events.Duplicate, o, "recording never moves back")
		o, err = in.Process(ctx, "billing", ev("a", 5), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		o, err = in.Process(ctx, "billing", ev("b", 3), nil)
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o, "a first record may skip the start")
		o, err = in.Process(ctx, "billing", ev("b", 4), count(&ran))
		require.NoError(t, err)
		assert.Equal(t, events.Handled, o)
		assert.Equal(t, 3, ran)
	})

	t.Run("EventWithoutSequenceIsDeduplicatedByID", func(t *testing.T) {
		in := newInbox(t)
		e := &events.Event{ID: "ext-1", TenantID: "acme", Type: "x", Version: 1, AggregateKey: "a"}
		var ran int
		for range 2 {
			_, err := in.Process(ctx, "billing", e, count(&ran))
			require.NoError(t, err)
		}
		assert.Equal(t, 1, ran)
	})

	t.Run("ConcurrentRedeliveriesRunOnce", func(t *testing.T) {
		in := newInbox(t)
		var ran atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := in.Process(ctx, "billing", ev("a", 1), func(context.Context, *events.Event) error { ran.Add(1); return nil })
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), ran.Load())
	})
}
