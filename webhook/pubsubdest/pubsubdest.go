package pubsubdest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"gocloud.dev/pubsub"

	"github.com/saaskit/saaskit/webhook"
)

// Options configure a Destination. The zero value is a sensible default.
type Options struct {
	// Mux opens the topics, by URL scheme: the drivers the application
	// imports register themselves on pubsub.DefaultURLMux, which is the
	// default; a mux of its own lets the operator open them with its own
	// connections (rabbitpubsub.URLOpener{Connection: conn}).
	Mux *pubsub.URLMux
	// Prefix returns the topic prefix a tenant's endpoints publish
	// under; a tenant may name any topic below it and nothing else.
	// Default "webhooks.<tenant>.", for a tenant ID of letters, digits,
	// '-' and '_' only; other tenants are refused.
	Prefix func(tenantID string) string
	// BeforeSend, when set, runs before each send with the driver's
	// message (through as, as pubsub.Message.BeforeSend's), to set what
	// the portable message lacks: a Kafka key or a Pub/Sub ordering key
	// from req.OrderingKey, say. Default: none.
	BeforeSend func(req *webhook.DestinationRequest, as func(any) bool) error
	// Timeout bounds one send. Default 10 seconds.
	Timeout time.Duration
}

// Destination publishes deliveries to gocloud.dev/pubsub topics: it
// implements webhook.Destination for the schemes of the drivers the
// application imports ("kafka://", "rabbit://", "awssqs://",
// "gcppubsub://", "mem://", ...). Close shuts its topics down.
type Destination struct {
	opts Options

	mu     sync.Mutex
	topics map[string]*pubsub.Topic // by URL
}

var _ webhook.Destination = (*Destination)(nil)

// New returns a Destination.
func New(opts Options) *Destination {
	if opts.Mux == nil {
		opts.Mux = pubsub.DefaultURLMux()
	}
	if opts.Prefix == nil {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Destination{opts: opts, topics: map[string]*pubsub.Topic{}}
}

// DefaultPrefix is Options.Prefix's default: "webhooks.<tenant>.", or ""
// (no topic at all) for a tenant ID that is empty or has characters
// other than letters, digits, '-' and '_'.
func DefaultPrefix(tenantID string) string {
	if tenantID == "" || strings.IndexFunc(tenantID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return ""
	}
	return "webhooks." + tenantID + "."
}

// Check implements webhook.Destination: target must name a topic under
// the tenant's prefix, without a query (which would configure the
// driver) or a port, and its scheme must be one Mux opens.
func (d *Destination) Check(tenantID string, target *url.URL) error {
	if !d.opts.Mux.ValidTopicScheme(target.Scheme) {
		return fmt.Errorf("%w: no pubsub driver for scheme %q", webhook.ErrInvalid, target.Scheme)
	}
	_, err := webhook.CheckTopic(target, d.opts.Prefix(tenantID))
	return err
}

// CheckHeader implements webhook.HeaderChecker: an endpoint's own
// headers may not begin with "goog", which Google Pub/Sub reserves.
func (d *Destination) CheckHeader(name string) error {
	if len(name) >= 4 && strings.EqualFold(name[:4], "goog") {
		return errors.New("Pub/Sub reserves attributes beginning with goog")
	}
	return nil
}

// Ack is what an attempt records as its response: the topic sent to.
type Ack struct {
	Topic string `json:"topic"`
	Sent  bool   `json:"sent"`
}

// Deliver implements webhook.Destination: it sends the body with the
// request's headers as metadata (the webhook signature among them) and
// returns once the driver says the broker has it.
func (d *Destination) Deliver(ctx context.Context, _ *webhook.Endpoint, req *webhook.DestinationRequest) (webhook.DestinationResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	key := req.Target.String()
	topic, err := d.topic(ctx, key)
	if err != nil {
		return webhook.DestinationResult{}, err
	}
	msg := &pubsub.Message{Body: req.Body, Metadata: make(map[string]string, len(req.Header))}
	for name, values := range req.Header {
		msg.Metadata[name] = strings.Join(values, ", ")
	}
	if d.opts.BeforeSend != nil {
		msg.BeforeSend = func(as func(any) bool) error { return d.opts.BeforeSend(req, as) }
	}
	name := webhook.TopicName(req.Target)
	if err := topic.Send(ctx, msg); err != nil {
		d.drop(key, topic) // the next attempt opens it again
		return webhook.DestinationResult{}, fmt.Errorf("pubsub send to %s: %w", name, err)
	}
	resp, err := json.Marshal(Ack{Topic: name, Sent: true})
	return webhook.DestinationResult{Response: resp}, err
}

// topic returns the open topic of url, opening it on first use.
func (d *Destination) topic(ctx context.Context, url string) (*pubsub.Topic, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.topics[url]; t != nil {
		return t, nil
	}
	t, err := d.opts.Mux.OpenTopic(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pubsub open topic: %w", err)
	}
	d.topics[url] = t
	return t, nil
}

// drop forgets a topic that failed, and shuts it down.
func (d *Destination) drop(url string, t *pubsub.Topic) {
	d.mu.Lock()
	if d.topics[url] == t {
		delete(d.topics, url)
	}
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout)
	defer cancel()
	_ = t.Shutdown(ctx)
}

// Close shuts down every topic the Destination opened.
func (d *Destination) Close(ctx context.Context) error {
	d.mu.Lock()
	topics := d.topics
	d.topics = map[string]*pubsub.Topic{}
	d.mu.Unlock()
	var first error
	for _, t := range topics {
		if err := t.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
