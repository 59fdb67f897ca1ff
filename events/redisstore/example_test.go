package redisstore_test

import (
	"context"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/redisstore"
)

// A search indexer's consumer, whose index lives outside SQL: each
// event runs index once, in order per aggregate, in whichever process
// gets it. (Compiled, not run: it needs Redis and NATS.)
func Example() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	index := func(ctx context.Context, e *events.Event) error { return nil } // idempotent: see the package doc
	cons, err := ejs.NewConsumer(ctx, js, "EVENTS", "search", redisstore.NewInbox(rdb, redisstore.Options{}), index, ejs.ConsumerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_ = cons.Run(ctx)
}
