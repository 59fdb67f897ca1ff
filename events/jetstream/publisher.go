package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
)

// PublisherOptions configure a Publisher. The zero value is a sensible
// default.
type PublisherOptions struct {
	// Prefix is the first token of every subject. Default "events".
	Prefix string
	// Stream, when set, is the stream every publish must land in
	// (Nats-Expected-Stream). Default: any stream that takes the subject.
	Stream string
	// Source is the CloudEvents source header. Default "saaskit".
	Source string
	// AckTimeout bounds the wait for a batch's acks; an event not acked
	// in time is published again by the relay later. Default 10 s.
	AckTimeout time.Duration
}

// Publisher is an events.Publisher on JetStream: it publishes a batch
// asynchronously with Nats-Msg-Id set to each event's ID and waits for
// the stream's acks, so the stream's duplicate window turns the relay's
// republishing after a crash into exactly-once publishing.
type Publisher struct {
	js   jetstream.JetStream
	opts PublisherOptions
}

var _ events.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher on js.
func NewPublisher(js jetstream.JetStream, opts PublisherOptions) (*Publisher, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: NewPublisher: js is required", events.ErrInvalid)
	}
	if opts.Prefix == "" {
		opts.Prefix = "events"
	}
	if opts.Source == "" {
		opts.Source = "saaskit"
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	return &Publisher{js: js, opts: opts}, nil
}

// ErrNoAck reports a publish that the stream did not ack in time.
var ErrNoAck = errors.New("events jetstream: no ack from the stream")

// Publish implements events.Publisher.
func (p *Publisher) Publish(ctx context.Context, evs []*events.Event) []error {
	errs := make([]error, len(evs))
	futures := make([]jetstream.PubAckFuture, len(evs))
	for i, e := range evs {
		opts := []jetstream.PublishOpt{jetstream.WithMsgID(e.ID)}
		if p.opts.Stream != "" {
			opts = append(opts, jetstream.WithExpectStream(p.opts.Stream))
		}
		f, err := p.js.PublishMsgAsync(Message(p.opts.Prefix, p.opts.Source, e), opts...)
		if err != nil {
			errs[i] = fmt.Errorf("events jetstream: publish %s: %w", e.ID, err)
			continue
		}
		futures[i] = f
	}
	timer := time.NewTimer(p.opts.AckTimeout)
	defer timer.Stop()
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("events jetstream: publish %s: %w", evs[i].ID, err)
		case <-ctx.Done():
			errs[i] = ctx.Err()
		case <-timer.C:
			timer.Reset(0) // the rest fail at once too
			errs[i] = fmt.Errorf("%w: event %s", ErrNoAck, evs[i].ID)
		}
	}
	return errs
}
