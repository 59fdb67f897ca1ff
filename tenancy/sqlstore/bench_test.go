package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
)

// BenchmarkTake takes one token per op from one credential's bucket in
// the database (one upsert).
//
//	go test -run '^$' -bench Take ./tenancy/sqlstore/
func BenchmarkTake(b *testing.B) {
	lim := tenancy.Limit{Rate: 1e6, Burst: 1 << 20} // never refuses
	for _, be := range backends {
		b.Run(be.Name, func(b *testing.B) {
			s, err := sqlstore.New(be.Open(b).DB)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			ctx, now := context.Background(), rlT0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Microsecond)
				if ok, _, err := s.Take(ctx, "p\x00acme\x00key:k1", lim, now); err != nil || !ok {
					b.Fatal("refused", err)
				}
			}
		})
	}
}

// BenchmarkConsume counts one API call of a tenant with a limit through
// tenancy.Metering (one conditional upsert with RETURNING), beside its
// limit on the same engine in the same run: a bare upsert that adds one
// to the same row of the same table, without a limit or reading it back.
//
//	go test -p 1 -run '^$' -bench Consume -benchtime 2000x -count 3 ./tenancy/sqlstore/
func BenchmarkConsume(b *testing.B) {
	ent, err := tenancy.NewEntitlements(map[string]tenancy.Plan{"pro": {Limits: map[string]int64{"api_calls": 1 << 62}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "pro"})
	for _, be := range backends {
		b.Run(be.Name, func(b *testing.B) {
			st := benchStore(b, be.Open)
			b.Run("upsert", func(b *testing.B) {
				query := `INSERT INTO tenancy_usage (tenant_id, metric, period, period_start, used) VALUES ($1, $2, $3, $4, 1)
					ON CONFLICT (tenant_id, metric, period, period_start) DO UPDATE SET used = tenancy_usage.used + 1`
				start := tenancy.Monthly.Start(time.Now()).Unix()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := st.DB().ExecContext(ctx, query, "acme", "api_calls", "month", start); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("consume", func(b *testing.B) {
				m, err := tenancy.NewMetering(st, ent, tenancy.MeteringOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Consume(ctx, "api_calls", 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func benchStore(b *testing.B, open func(testing.TB) *sqldb.DB) *sqlstore.Store {
	s, err := sqlstore.New(open(b).DB)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}
