package sqlstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// BenchmarkMarkSeen is the replay check of one message in the database
// (one upsert), over 4,096 ids: new ones, then seen ones.
//
//	go test -run '^$' -bench MarkSeen ./webhook/sqlstore/
func BenchmarkMarkSeen(b *testing.B) {
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "msg_2KWPBgLlAfxdpx2AI54p" + strconv.Itoa(i)
	}
	for _, be := range sqldbtest.Engines {
		b.Run(be.Name, func(b *testing.B) {
			seen := newStore(b, be.Open(b)).Seen(sqlstore.SeenOptions{})
			ctx, until := context.Background(), time.Now().Add(10*time.Minute)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := seen.MarkSeen(ctx, ids[i%len(ids)], until); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
