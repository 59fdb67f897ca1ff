package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	eventstore "github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/observability/health"
)

// EventStream is the JetStream stream the demo publishes its events to,
// on the subjects events.<tenant>.<subject token>.<type>.
const EventStream = "EVENTS"

// bus publishes the demo's events to other products (package events):
// each is written to the outbox in the transaction of the change it
// reports, and, when a NATS URL is configured, a relay publishes it to
// JetStream once. Without NATS the events stay in the outbox, to be
// relayed by a later start with NATS.
type bus struct {
	outbox *eventstore.Store
	relay  *events.Relay // nil without NATS
	nc     *nats.Conn
	// sources erase a user's retained events: the outbox's, and the
	// stream's with NATS.
	sources []gdpr.Source
}

// openBus opens the outbox in db and, when natsURL is set, connects to
// NATS, ensures the stream and makes the relay.
func openBus(ctx context.Context, db *sql.DB, natsURL string, logger *slog.Logger) (*bus, error) {
	st, err := eventstore.New(db)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	outboxSource, err := eventstore.NewSource(st, eventstore.SourceOptions{Identity: gdpr.SubjectKey})
	if err != nil {
		return nil, err
	}
	b := &bus{outbox: st, sources: []gdpr.Source{outboxSource}}
	if natsURL == "" {
		logger.Info("no NATS URL (-nats or SAASKIT_NATS_URL): events stay in the outbox")
		return b, nil
	}
	if b.nc, err = nats.Connect(natsURL, nats.Name("saaskit-demo")); err != nil {
		return nil, fmt.Errorf("nats %s: %w", natsURL, err)
	}
	js, err := jetstream.New(b.nc)
	if err == nil {
		_, err = ejs.EnsureStream(ctx, js, EventStream, ejs.StreamOptions{})
	}
	var pub *ejs.Publisher
	if err == nil {
		pub, err = ejs.NewPublisher(js, ejs.PublisherOptions{Stream: EventStream, Source: "saaskit-demo"})
	}
	if err == nil {
		b.relay, err = events.NewRelay(st, pub, events.RelayOptions{Logger: logger})
	}
	var streamSource *ejs.Source
	if err == nil {
		streamSource, err = ejs.NewSource(js, EventStream, ejs.SourceOptions{Identity: gdpr.SubjectKey})
	}
	if err != nil {
		b.nc.Close()
		return nil, err
	}
	b.sources = append(b.sources, streamSource)
	logger.Info("events relayed to NATS JetStream", slog.String("stream", EventStream))
	return b, nil
}

// append writes an event in tx, the transaction of the change it
// reports.
func (b *bus) append(ctx context.Context, tx *sql.Tx, e *events.Event) error {
	return b.outbox.AppendTx(ctx, tx, e)
}

// notify wakes the relay after a commit, so the event goes out now.
func (b *bus) notify() {
	if b.relay != nil {
		b.relay.Notify()
	}
}

// keepRelayed is how long the outbox keeps events after relaying them.
const keepRelayed = 7 * 24 * time.Hour

// run relays until ctx ends, and hourly deletes the events relayed
// more than keepRelayed ago; without NATS it returns at once.
func (b *bus) run(ctx context.Context, logger *slog.Logger) {
	if b.relay == nil {
		return
	}
	var expiring sync.WaitGroup
	defer expiring.Wait()
	expiring.Go(func() {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			if _, err := b.outbox.Expire(ctx, time.Now().Add(-keepRelayed), 10_000); err != nil && ctx.Err() == nil {
				logger.ErrorContext(ctx, "events outbox: expire", slog.String("error", err.Error()))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	_ = b.relay.Run(ctx)
}

// erase erases the user's retained events, for an erasure that does not
// go through the privacy engine (which has the sources).
func (b *bus) erase(ctx context.Context, tenantID, userID string) error {
	subject := gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: userID}}}
	for _, s := range b.sources {
		if _, err := s.Erase(ctx, tenantID, subject); err != nil {
			return err
		}
	}
	return nil
}

// checks are the readiness checks of the relay, with NATS: the
// connection, and the backlog of events waiting in the outbox.
func (b *bus) checks() []health.Check {
	if b.nc == nil {
		return nil
	}
	connected := func(context.Context) error {
		if !b.nc.IsConnected() {
			return fmt.Errorf("nats: %s", b.nc.Status())
		}
		return nil
	}
	backlog := func(ctx context.Context) (int, time.Duration, error) {
		n, err := b.outbox.Pending(ctx)
		return n, 0, err
	}
	return []health.Check{
		{Name: "nats", ComponentType: "component", Func: connected},
		{Name: "events:outbox", ComponentType: "component", Func: health.Queue(backlog, 10_000, 0)},
	}
}

func (b *bus) close() {
	if b.nc != nil {
		b.nc.Close()
	}
}
