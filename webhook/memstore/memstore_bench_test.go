package memstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// BenchmarkClaimBacklog measures one Claim (16 deliveries, at most 4 per
// endpoint) as the backlog grows, in the shapes of sqlstore's benchmark
// of the same name: "due", every delivery due, over 50 endpoints;
// "backoff", one failing endpoint holding nine in ten deliveries, the
// oldest, all waiting out their backoff; "ordered", the same endpoint
// ordered, its first delivery waiting and blocking the rest.
//
//	go test -run '^$' -bench ClaimBacklog -benchmem ./webhook/memstore/
func BenchmarkClaimBacklog(b *testing.B) {
	for _, shape := range []string{"due", "backoff", "ordered"} {
		for _, depth := range []int{1_000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d", shape, depth), func(b *testing.B) { benchClaimBacklog(b, shape, depth) })
		}
	}
}

func benchClaimBacklog(b *testing.B, shape string, depth int) {
	const nEndpoints = 50
	ctx := context.Background()
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	s := memstore.New()
	eps := make([]*webhook.Endpoint, nEndpoints)
	for i := range eps {
		eps[i] = &webhook.Endpoint{ID: fmt.Sprintf("ep%02d", i), TenantID: "acme", Ordered: shape == "ordered" && i == 0}
	}
	n := 0
	enqueue := func(to []*webhook.Endpoint) {
		n++
		m := &webhook.Message{ID: fmt.Sprint("m", n), TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{}`), CreatedAt: t0}
		require.NoError(b, s.Enqueue(ctx, m, to))
	}
	healthy := depth / nEndpoints
	if shape != "due" {
		healthy = depth / 10 / nEndpoints
	}
	for range depth - healthy*nEndpoints { // the failing endpoint's backlog, oldest
		enqueue(eps[:1])
	}
	for range healthy {
		enqueue(eps)
	}
	if shape != "due" { // the failing endpoint's claimable deliveries wait an hour
		for {
			batch, err := s.Claim(ctx, t0, time.Minute, 1000, 1000)
			require.NoError(b, err)
			failing := 0
			for _, d := range batch {
				if d.EndpointID == "ep00" {
					failing++
					d.NextAt = t0.Add(time.Hour)
					require.NoError(b, s.Complete(ctx, d, webhook.Attempt{At: t0, Status: 500}))
				}
			}
			if failing == 0 {
				break
			}
		}
	}
	webhooktest.BenchClaims(b, s, t0.Add(2*time.Minute)) // past the leases above
}
