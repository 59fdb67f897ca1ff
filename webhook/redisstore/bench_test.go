package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/redistest"
	"github.com/saaskit/saaskit/webhook/redisstore"
)

// BenchmarkRoundTrip is the limit: one bare go-redis command, SET and
// INCR, on the same client as the checks beside it.
//
//	go test -run '^$' -bench . -benchtime 2000x ./webhook/redisstore/
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

// BenchmarkMarkSeen is the replay check of one message (SET NX PXAT),
// over 4,096 ids: new ones, then seen ones, the same one command.
func BenchmarkMarkSeen(b *testing.B) {
	c := redistest.Client(b)
	st := redisstore.New(c, redisstore.Options{Prefix: redistest.Prefix(b, c)})
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "msg_2KWPBgLlAfxdpx2AI54p" + strconv.Itoa(i)
	}
	ctx, until := context.Background(), time.Now().Add(10*time.Minute)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.MarkSeen(ctx, ids[i%len(ids)], until); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReserve books one endpoint's rate-limit slot per op (the Lua
// script, EVALSHA).
func BenchmarkReserve(b *testing.B) {
	c := redistest.Client(b)
	st := redisstore.New(c, redisstore.Options{Prefix: redistest.Prefix(b, c)})
	ctx, now := context.Background(), t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if wait, ok, err := st.Reserve(ctx, "ep1", 1e6, now, time.Second); err != nil || !ok || wait > 0 {
			b.Fatal("no slot", err)
		}
	}
}
