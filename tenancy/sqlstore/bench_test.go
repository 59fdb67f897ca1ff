package sqlstore_test

import (
	"context"
	"testing"
	"time"

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
		b.Run(be.name, func(b *testing.B) {
			s, err := sqlstore.New(be.open(b).DB)
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
