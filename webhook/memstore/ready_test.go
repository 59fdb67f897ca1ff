package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// TestReadyHeapStaysSmall retries deliveries many times: each retry
// leaves a stale item behind, and the heap is compacted so that it
// holds at most about twice the pending deliveries.
func TestReadyHeapStaysSmall(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	s := New()
	ep := &webhook.Endpoint{ID: "ep", TenantID: "acme"}
	for i := range 10 {
		m := &webhook.Message{ID: fmt.Sprint("m", i), TenantID: "acme", Payload: json.RawMessage(`{}`), CreatedAt: t0}
		require.NoError(t, s.Enqueue(ctx, m, []*webhook.Endpoint{ep}))
	}
	now := t0
	for range 500 {
		batch, err := s.Claim(ctx, now, time.Minute, 10, 10)
		require.NoError(t, err)
		require.Len(t, batch, 10, "every delivery is due again after its retry")
		for _, d := range batch {
			d.Attempts++
			d.NextAt = now.Add(time.Second)
			require.NoError(t, s.Complete(ctx, d, webhook.Attempt{At: now, Status: 500}))
		}
		now = now.Add(time.Second)
	}
	assert.LessOrEqual(t, len(s.ready), 2*s.live+64)
}

// TestReadyHeapOrder checks the heap against a sort.
func TestReadyHeapOrder(t *testing.T) {
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	var h readyHeap
	for i := range 1000 {
		h.push(readyItem{at: t0.Add(time.Duration(rand.IntN(50)) * time.Second), seq: int64(i)})
	}
	h.init()
	var prev readyItem
	for i := 0; len(h) > 0; i++ {
		it := h.pop()
		if i > 0 {
			assert.True(t, prev.at.Before(it.at) || prev.at.Equal(it.at) && prev.seq < it.seq, "item %d out of order", i)
		}
		prev = it
	}
}
