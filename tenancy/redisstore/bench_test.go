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
