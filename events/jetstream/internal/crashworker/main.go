// Command crashworker is the process the crash test kills: with -role
// relay it relays the outbox to JetStream, with -role consumer it
// handles the stream's events into the table crash_handled, one row per
// run of the handler, in the inbox's transaction.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

func main() {
	role := flag.String("role", "", "relay or consumer")
	dsn := flag.String("dsn", "", "database")
	url := flag.String("nats", nats.DefaultURL, "NATS server")
	stream := flag.String("stream", "", "stream name")
	prefix := flag.String("prefix", "events", "subject prefix")
	flag.Parse()
	if err := run(*role, *dsn, *url, *stream, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "crashworker:", err)
		os.Exit(1)
	}
}

func run(role, dsn, url, stream, prefix string) error {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	st, err := sqlstore.New(db.DB)
	if err != nil {
		return err
	}
	// The server may be restarting: keep trying to connect.
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch role {
	case "relay":
		pub, err := ejs.NewPublisher(js, ejs.PublisherOptions{Prefix: prefix, Stream: stream, AckTimeout: 2 * time.Second})
		if err != nil {
			return err
		}
		relay, err := events.NewRelay(st, pub, events.RelayOptions{LeaseFor: 2 * time.Second, PollInterval: 5 * time.Millisecond,
			Backoff: 50 * time.Millisecond, BatchSize: 64, Logger: log})
		if err != nil {
			return err
		}
		return relay.Run(ctx)
	case "consumer":
		insert := db.Dialect.Rebind(`INSERT INTO crash_handled (event_id, aggregate_key, aggregate_seq) VALUES (?, ?, ?)`)
		h := func(ctx context.Context, e *events.Event) error {
			_, err := events.Tx(ctx).ExecContext(ctx, insert, e.ID, e.AggregateKey, e.AggregateSeq)
			return err
		}
		for {
			cons, err := ejs.NewConsumer(ctx, js, stream, "billing", st, h, ejs.ConsumerOptions{
				AckWait: time.Second, Backoff: []time.Duration{10 * time.Millisecond}, MaxDeliver: 1000, Logger: log,
				// Events run ahead of their aggregates' order, held until
				// their turn, while the consumer is killed.
				MaxAckPending: 16})
			if err != nil { // the server is not back yet
				log.Warn("consumer", "error", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return cons.Run(ctx)
		}
	}
	return fmt.Errorf("unknown role %q", role)
}
