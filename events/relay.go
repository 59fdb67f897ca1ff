package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RelayOptions configure a Relay. The zero value is a sensible default.
type RelayOptions struct {
	// Workers is how many lanes this relay works at once. Default 4.
	Workers int
	// BatchSize is the most events claimed from a lane at once. Default 256.
	BatchSize int
	// LeaseFor is how long a claimed lane stays this relay's; if the
	// relay dies, another takes the lane after it. It must exceed the
	// time to publish a batch. Default 30 s.
	LeaseFor time.Duration
	// PollInterval is how long an idle worker waits before looking for
	// work again, unless Notify wakes it. Default 20 ms.
	PollInterval time.Duration
	// Backoff is how long a worker waits after a store or broker error.
	// Default 500 ms.
	Backoff time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger logs errors. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider records saaskit.events.relayed. Default otel's global.
	MeterProvider metric.MeterProvider
}

// Relay moves events from a Store to a Publisher: it leases a lane,
// publishes its events with each aggregate's in order (the next only
// after the broker accepted the one before), marks relayed only the
// ones the broker accepted, and releases the lane. Several relays, in
// one process or many, share a store without publishing an event twice
// while its lease holds; after a crash the next relay publishes again
// what was not marked, and the broker's deduplication on the event ID
// keeps the stream free of duplicates.
type Relay struct {
	store   Store
	pub     Publisher
	opts    RelayOptions
	wake    chan struct{}
	relayed metric.Int64Counter
}

// NewRelay returns a relay from store to pub.
func NewRelay(store Store, pub Publisher, opts RelayOptions) (*Relay, error) {
	if store == nil || pub == nil {
		return nil, fmt.Errorf("%w: NewRelay: store and publisher are required", ErrInvalid)
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.LeaseFor <= 0 {
		opts.LeaseFor = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	relayed, err := opts.MeterProvider.Meter("github.com/saaskit/saaskit/events").Int64Counter("saaskit.events.relayed",
		metric.WithUnit("{event}"), metric.WithDescription("Events the broker accepted from the outbox"))
	if err != nil {
		return nil, fmt.Errorf("events: relay metric: %w", err)
	}
	return &Relay{store: store, pub: pub, opts: opts, wake: make(chan struct{}, 1), relayed: relayed}, nil
}

// Notify wakes an idle worker at once, for a process that has just
// committed events; without it workers find them within PollInterval.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, then returns ctx's error.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()
	return ctx.Err()
}

func (r *Relay) work(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := r.RelayOnce(ctx)
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() == nil:
			r.opts.Logger.ErrorContext(ctx, "events: relay", "error", err)
			wait = r.opts.Backoff
		case n == 0:
			wait = r.opts.PollInterval
		default:
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-r.wake:
		}
		t.Stop()
	}
}

// RelayOnce claims one lane and relays its batch: it returns how many
// events the broker accepted, 0 when no lane has work, and the first
// error (the events after a failed one in its aggregate wait for the
// next claim).
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	b, err := r.store.Claim(ctx, r.opts.Now(), r.opts.LeaseFor, r.opts.BatchSize)
	if err != nil || b == nil {
		return 0, err
	}
	// Rounds: the i-th event of every aggregate in the batch goes out in
	// round i, so an aggregate's next event is published only after the
	// broker accepted the one before. An aggregate whose event fails
	// sits out the rest of the batch.
	var queues [][]*Event
	index := map[string]int{}
	for _, e := range b.Events {
		k := e.TenantID + "\x00" + e.AggregateKey
		i, ok := index[k]
		if !ok {
			i = len(queues)
			index[k] = i
			queues = append(queues, nil)
		}
		queues[i] = append(queues[i], e)
	}
	var relayed []string
	var firstErr error
	for len(queues) > 0 {
		round := make([]*Event, len(queues))
		for i, q := range queues {
			round[i] = q[0]
		}
		errs := r.pub.Publish(ctx, round)
		next := queues[:0]
		for i, q := range queues {
			if i < len(errs) && errs[i] == nil {
				relayed = append(relayed, q[0].ID)
				if len(q) > 1 {
					next = append(next, q[1:])
				}
				continue
			}
			if firstErr == nil {
				firstErr = errPublish(q[0], errs, i)
			}
		}
		queues = next
	}
	// Marking survives the caller's cancellation: the broker has them.
	if err := r.store.Complete(context.WithoutCancel(ctx), b, relayed, r.opts.Now()); err != nil {
		return 0, errors.Join(firstErr, fmt.Errorf("events: relay: complete lane %d: %w", b.Lane, err))
	}
	if len(relayed) > 0 {
		r.relayed.Add(ctx, int64(len(relayed)), metric.WithAttributes(attribute.Int("saaskit.events.lane", b.Lane)))
	}
	return len(relayed), firstErr
}

func errPublish(e *Event, errs []error, i int) error {
	err := errors.New("publisher returned no result")
	if i < len(errs) {
		err = errs[i]
	}
	return fmt.Errorf("events: relay: publish event %s: %w", e.ID, err)
}
