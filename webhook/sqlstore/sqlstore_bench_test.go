package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// BenchmarkClaimComplete measures one worker cycle per op: Claim up to
// 16 deliveries (at most 4 per endpoint, the worker defaults) and
// Complete each with a logged failed attempt, due again at once, so the
// queue keeps its depth: 1,000 pending deliveries over 50 endpoints.
//
//	go test -run '^$' -bench ClaimComplete -benchmem ./webhook/sqlstore/
//
// Set SAASKIT_TEST_POSTGRES_DSN for the postgres case.
func BenchmarkClaimComplete(b *testing.B) {
	for _, be := range sqldbtest.Engines {
		b.Run(be.Name, func(b *testing.B) { benchClaimComplete(b, be.Open(b)) })
	}
}

func benchClaimComplete(b *testing.B, db *sqldb.DB) {
	const (
		depth      = 1000
		nEndpoints = 50
	)
	ctx := context.Background()
	s := newStore(b, db)
	eps := make([]*webhook.Endpoint, nEndpoints)
	for i := range eps {
		eps[i] = endpoint(fmt.Sprintf("ep%02d", i), false)
	}
	for i := range depth / nEndpoints {
		require.NoError(b, s.Enqueue(ctx, message("acme", fmt.Sprintf("m%04d", i)), eps))
	}
	now := t0
	claimed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		batch, err := s.Claim(ctx, now, time.Minute, 16, 4)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range batch {
			d.State, d.Attempts, d.NextAt, d.LastError = webhook.StatePending, d.Attempts+1, now, "HTTP 500"
			if err := s.Complete(ctx, d, webhook.Attempt{DeliveryID: d.ID, At: now, Status: 500, Latency: time.Millisecond, Error: "HTTP 500", Response: []byte("oops")}); err != nil {
				b.Fatal(err)
			}
		}
		claimed += len(batch)
	}
	b.ReportMetric(float64(claimed)/float64(b.N), "deliveries/op")
}

// BenchmarkClaimBacklog measures one Claim (16 deliveries, at most 4 per
// endpoint) as the backlog grows, with no completions: each op comes
// after the last op's leases ran out, so the queue stays as it is.
// "due": every delivery is due, over 50 endpoints. "backoff": one
// endpoint is failing and holds nine in ten of the deliveries, the
// oldest, waiting out their backoff; the other 49 have theirs due.
// "ordered": as backoff, but the failing endpoint is ordered and only
// its first delivery waits, blocking the others, which are due.
//
//	go test -run '^$' -bench ClaimBacklog -benchmem ./webhook/sqlstore/
func BenchmarkClaimBacklog(b *testing.B) {
	for _, be := range sqldbtest.Engines {
		for _, shape := range []string{"due", "backoff", "ordered"} {
			for _, depth := range []int{1_000, 10_000, 100_000} {
				b.Run(fmt.Sprintf("%s/%s/%d", be.Name, shape, depth), func(b *testing.B) {
					benchClaimBacklog(b, be.Open(b), shape, depth)
				})
			}
		}
	}
}

func benchClaimBacklog(b *testing.B, db *sqldb.DB, shape string, depth int) {
	const nEndpoints = 50
	ctx := context.Background()
	s := newStore(b, db)
	eps := make([]*webhook.Endpoint, nEndpoints)
	for i := range eps {
		eps[i] = endpoint(fmt.Sprintf("ep%02d", i), shape == "ordered" && i == 0)
	}
	// fill enqueues a message to endpoints, then copies its deliveries
	// in SQL until each endpoint has n of them: far faster than n
	// Enqueues, and the same to Claim.
	fill := func(id string, endpoints []*webhook.Endpoint, n int) {
		require.NoError(b, s.Enqueue(ctx, message("acme", id), endpoints))
		_, err := db.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO webhook_deliveries
			(id, tenant_id, message_id, endpoint_id, ordered, state, attempts, next_at, last_error, updated_at)
			WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?)
			SELECT d.id || '-' || k.n, d.tenant_id, d.message_id, d.endpoint_id, d.ordered, d.state, d.attempts, d.next_at, d.last_error, d.updated_at
			FROM k CROSS JOIN webhook_deliveries d WHERE d.message_id = ? ORDER BY k.n, d.seq`), n-1, id)
		require.NoError(b, err)
	}
	if shape == "due" {
		fill("m-due", eps, depth/nEndpoints)
	} else {
		healthy := depth / 10 / nEndpoints
		fill("m-failing", eps[:1], depth-healthy*nEndpoints)
		fill("m-healthy", eps, healthy)
		waiting := "endpoint_id = 'ep00'" // backoff: all of the failing endpoint's
		if shape == "ordered" {           // ordered: its head, which blocks the rest
			waiting = "seq = (SELECT MIN(seq) FROM webhook_deliveries WHERE endpoint_id = 'ep00')"
		}
		_, err := db.ExecContext(ctx, db.Dialect.Rebind("UPDATE webhook_deliveries SET next_at = ? WHERE "+waiting), sqldb.Timestamp(t0.Add(time.Hour)))
		require.NoError(b, err)
	}
	var n int
	require.NoError(b, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhook_deliveries").Scan(&n))
	require.Equal(b, depth, n)
	webhooktest.BenchClaims(b, s, t0)
}

// BenchmarkReserve books one rate-limit slot per op: the shared
// schedule in the database (one upsert) beside an in-process limiter
// (golang.org/x/time/rate), the default that each process keeps alone.
//
//	go test -run '^$' -bench Reserve -benchmem ./webhook/sqlstore/
func BenchmarkReserve(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		l := rate.NewLimiter(1e6, 1)
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Millisecond)
			if r := l.ReserveN(now, 1); !r.OK() || r.DelayFrom(now) > 0 {
				b.Fatal("no slot")
			}
		}
	})
	for _, be := range sqldbtest.Engines {
		b.Run(be.Name, func(b *testing.B) {
			s := newStore(b, be.Open(b))
			ctx, now := context.Background(), t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Millisecond)
				if wait, ok, err := s.Reserve(ctx, "ep1", 1e6, now, time.Second); err != nil || !ok || wait > 0 {
					b.Fatal("no slot", err)
				}
			}
		})
	}
}
