package webhooktest

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

	"github.com/saaskit/saaskit/webhook"
)

// RunSharedTests runs the promises an adapter keeps to several
// processes sharing one store: open returns a new empty store and a
// function that opens another handle on the same store, as another
// process would (memstore: the same value; sqlstore: a new pool on the
// same database).
func RunSharedTests(t *testing.T, open func(t *testing.T) (Adapter, func() Adapter)) {
	t.Run("ConcurrentClaimsNeverShareADelivery", func(t *testing.T) {
		a, reopen := open(t)
		testConcurrentClaims(t, a, reopen)
	})
	t.Run("ErasingDuringFlight", func(t *testing.T) {
		a, reopen := open(t)
		testEraseDuringFlight(t, a, reopen)
	})
}

// testConcurrentClaims: claimers on several handles, claiming at once
// until nothing is left, take every delivery exactly once.
func testConcurrentClaims(t *testing.T, a Adapter, reopen func() Adapter) {
	ctx := context.Background()
	const n = 300
	eps := []*webhook.Endpoint{endpoint("acme", "ep1", false), endpoint("acme", "ep2", false), endpoint("acme", "ep3", true)}
	for i := range n {
		require.NoError(t, a.Enqueue(ctx, message("acme", fmt.Sprint("m", i)), eps[i%3:i%3+1]))
	}
	handles := []Adapter{a, reopen(), reopen()}
	var (
		mu     sync.Mutex
		taken  = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, len(handles)*2)
		failed atomic.Bool // one claimer failed: the others stop rather than wait for what it held
	)
	for _, h := range handles {
		for range 2 {
			wg.Go(func() {
				for !failed.Load() {
					claimed, err := h.Claim(ctx, t0, time.Hour, 7, 3)
					if err != nil {
						failed.Store(true)
						errs <- err
						return
					}
					if len(claimed) == 0 {
						mu.Lock()
						done := len(taken) == n
						mu.Unlock()
						if done {
							return
						}
						continue // others hold the rest, or an ordered head is out
					}
					for _, d := range claimed {
						mu.Lock()
						taken[d.ID]++
						mu.Unlock()
						d.State, d.Attempts = webhook.StateSucceeded, 1
						if err := h.Complete(ctx, d, webhook.Attempt{At: t0, Status: 200}); err != nil {
							failed.Store(true)
							errs <- err
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, taken, n, "every delivery was claimed")
	for id, times := range taken {
		assert.Equal(t, 1, times, "delivery %s claimed %d times", id, times)
	}
}

// testEraseDuringFlight: a delivery claimed by one handle whose subject
// another handle erases cannot be completed into existence again: the
// completion fails, and nothing of the message is left.
func testEraseDuringFlight(t *testing.T, a Adapter, reopen func() Adapter) {
	ctx := context.Background()
	other := reopen()
	sq, ok := other.(webhook.SubjectQueue)
	if !ok {
		t.Skip("the adapter cannot erase subjects")
	}
	require.NoError(t, a.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{endpoint("acme", "ep1", false)}))
	claimed, err := a.Claim(ctx, t0, time.Hour, 10, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	n, err := sq.EraseSubject(ctx, "acme", "user-1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	d := claimed[0]
	d.State, d.Attempts = webhook.StateSucceeded, 1
	err = a.Complete(ctx, d, webhook.Attempt{At: t0, Status: 200})
	assert.True(t, errors.Is(err, webhook.ErrNotFound) || errors.Is(err, webhook.ErrConflict), "completing an erased delivery: %v", err)
	left, err := a.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
	require.NoError(t, err)
	assert.Empty(t, left, "the erased delivery came back")
	msgs, err := sq.SubjectMessages(ctx, "acme", "user-1")
	require.NoError(t, err)
	assert.Empty(t, msgs)
}
