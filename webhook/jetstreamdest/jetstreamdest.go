package jetstreamdest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/webhook"
)

// Scheme is the URL scheme a Destination is registered under in
// webhook.DispatcherOptions.Destinations, as in
// "nats://webhooks.acme.orders".
const Scheme = "nats"

// Options configure a Destination. The zero value is a sensible default.
type Options struct {
	// Prefix returns the subject prefix a tenant's endpoints publish
	// under; a tenant may name any subject below it and nothing else.
	// It must end in ".". Default "webhooks.<tenant>.", for a tenant ID
	// that is one subject token (no '.', '*', '>' or whitespace); other
	// tenants are refused.
	Prefix func(tenantID string) string
	// Stream, when set, is the stream every publish must land in
	// (Nats-Expected-Stream), so a subject no stream of the operator's
	// takes is refused rather than stored elsewhere. Default: any stream
	// that takes the subject.
	Stream string
	// Timeout bounds the wait for the stream's ack. Default 10 seconds.
	Timeout time.Duration
}

// Destination publishes deliveries to JetStream subjects: it implements
// webhook.Destination for endpoint URLs "nats://<subject>".
type Destination struct {
	js   jetstream.JetStream
	opts Options
}

var _ webhook.Destination = (*Destination)(nil)

// New returns a Destination publishing with js.
func New(js jetstream.JetStream, opts Options) (*Destination, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: jetstreamdest: js is required", webhook.ErrInvalid)
	}
	if opts.Prefix == nil {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Destination{js: js, opts: opts}, nil
}

// DefaultPrefix is Options.Prefix's default: "webhooks.<tenant>.", or ""
// (no subject at all) for a tenant ID that is not one subject token.
func DefaultPrefix(tenantID string) string {
	if !validToken(tenantID) {
		return ""
	}
	return "webhooks." + tenantID + "."
}

// Check implements webhook.Destination: target must name a subject
// under the tenant's prefix, of non-empty tokens without wildcards.
func (d *Destination) Check(tenantID string, target *url.URL) error {
	prefix := d.opts.Prefix(tenantID)
	if prefix != "" && !strings.HasSuffix(prefix, ".") {
		return fmt.Errorf("%w: subject prefix %q does not end in '.'", webhook.ErrInvalid, prefix)
	}
	subject, err := webhook.CheckTopic(target, prefix)
	if err != nil {
		return err
	}
	for tok := range strings.SplitSeq(subject, ".") {
		if !validToken(tok) {
			return fmt.Errorf("%w: subject %q: tokens must be non-empty, without '*', '>' or whitespace", webhook.ErrInvalid, subject)
		}
	}
	return nil
}

// CheckHeader implements webhook.HeaderChecker: an endpoint's own
// headers may not be JetStream's (Nats-*), which steer the stream
// (Nats-Rollup purges a subject, Nats-Msg-Id deduplicates, ...).
func (d *Destination) CheckHeader(name string) error {
	if reserved(name) {
		return errors.New("the nats-* headers are JetStream's")
	}
	return nil
}

// reserved reports whether a header is JetStream's.
func reserved(name string) bool { return len(name) >= 5 && strings.EqualFold(name[:5], "nats-") }

// validToken reports whether s is one literal subject token.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// Ack is what an attempt records as its response: the subject published
// to and the stream's ack.
type Ack struct {
	Subject   string `json:"subject"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Deliver implements webhook.Destination: it publishes the body with the
// request's headers (the webhook signature among them) and Nats-Msg-Id
// set to the delivery's ID, so the stream's duplicate window drops a
// retry whose first ack was lost, and waits for the stream's ack.
func (d *Destination) Deliver(ctx context.Context, _ *webhook.Endpoint, req *webhook.DestinationRequest) (webhook.DestinationResult, error) {
	subject := webhook.TopicName(req.Target)
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(req.DeliveryID)}
	if d.opts.Stream != "" {
		opts = append(opts, jetstream.WithExpectStream(d.opts.Stream))
	}
	for name := range req.Header {
		if reserved(name) { // endpoints made before a HeaderChecker refused them
			delete(req.Header, name)
		}
	}
	ack, err := d.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: nats.Header(req.Header), Data: req.Body}, opts...)
	if err != nil {
		return webhook.DestinationResult{}, fmt.Errorf("jetstream publish to %s: %w", subject, err)
	}
	resp, err := json.Marshal(Ack{Subject: subject, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
	return webhook.DestinationResult{Response: resp}, err
}
