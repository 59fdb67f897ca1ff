package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
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
	for _, be := range []struct {
		name string
		open func(testing.TB) *sqldb.DB
	}{{"sqlite", sqldbtest.OpenSQLite}, {"postgres", sqldbtest.OpenPostgres}} {
		b.Run(be.name, func(b *testing.B) { benchClaimComplete(b, be.open(b)) })
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
