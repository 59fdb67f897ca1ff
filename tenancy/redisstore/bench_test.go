package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/redistest"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/redisstore"
)

// BenchmarkRoundTrip is the limit: one bare go-redis command, SET and
// INCR, on the same client as the rate-limit check beside it.
//
//	go test -run '^$' -bench . -benchtime 2000x ./tenancy/redisstore/
func BenchmarkRoundTrip(b *testing.B) {
	c := redistest.Client(b)
	prefix := redistest.Prefix(b, c)
	ctx := context.Background()
	b.Run("SET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(ctx, prefix+"set", "1", 0).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("INCR", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Incr(ctx, prefix+"incr").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTake takes one token per op from one credential's bucket:
// the Lua script (EVALSHA) in Redis, and the process's own buckets.
func BenchmarkTake(b *testing.B) {
	lim := tenancy.Limit{Rate: 1e6, Burst: 1 << 20} // never refuses
	key := "p\x00acme\x00key:k1"
	b.Run("redis", func(b *testing.B) {
		c := redistest.Client(b)
		st := redisstore.New(c, redisstore.Options{Prefix: redistest.Prefix(b, c)})
		ctx, now := context.Background(), t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Microsecond)
			if ok, _, err := st.Take(ctx, key, lim, now); err != nil || !ok {
				b.Fatal("refused", err)
			}
		}
	})
	b.Run("in-process", func(b *testing.B) {
		st := tenancy.NewMemoryLimits(0)
		ctx, now := context.Background(), t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Microsecond)
			if ok, _, _ := st.Take(ctx, key, lim, now); !ok {
				b.Fatal("refused")
			}
		}
	})
}

// BenchmarkConsume counts one API call of a tenant with a limit through
// tenancy.Metering (one EVALSHA), beside its limit in the same run: a
// bare INCRBY of a key.
//
//	go test -run '^$' -bench Consume -benchtime 2000x -count 3 ./tenancy/redisstore/
func BenchmarkConsume(b *testing.B) {
	c := redistest.Client(b)
	prefix := redistest.Prefix(b, c)
	ctx := context.Background()
	b.Run("INCRBY", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.IncrBy(ctx, prefix+"incrby", 1).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consume", func(b *testing.B) {
		ent, err := tenancy.NewEntitlements(map[string]tenancy.Plan{"pro": {Limits: map[string]int64{"api_calls": 1 << 62}}})
		if err != nil {
			b.Fatal(err)
		}
		m, err := tenancy.NewMetering(redisstore.New(c, redisstore.Options{Prefix: prefix}), ent, tenancy.MeteringOptions{})
		if err != nil {
			b.Fatal(err)
		}
		tctx := tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "acme", Plan: "pro"})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Consume(tctx, "api_calls", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
