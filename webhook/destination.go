package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Destination delivers to endpoints whose URL names a message broker
// rather than an HTTP receiver: a NATS JetStream subject
// (webhook/jetstreamdest), a Kafka, SQS, Pub/Sub or RabbitMQ topic
// (webhook/pubsubdest), and so on. The operator registers each in
// DispatcherOptions.Destinations under the URL schemes it serves; the
// worker then delivers to them as to HTTP endpoints, with the same
// retries, breakers, rate limits, ordering, attempt log and dead
// letters.
//
// Tenants create their own endpoints, so a Destination confines each
// tenant to what the operator grants it: Check refuses a target outside
// the tenant's share of the broker (the platform's internal subjects,
// another tenant's), and runs when an endpoint is created or updated
// and again before every delivery.
type Destination interface {
	// Check reports whether the tenant's endpoint may deliver to target.
	// Its error names the rule broken.
	Check(tenantID string, target *url.URL) error
	// Deliver sends one attempt and returns what the broker answered,
	// for the attempt log. An error fails the attempt, which is retried
	// as an HTTP endpoint's failure is.
	Deliver(ctx context.Context, e *Endpoint, req *DestinationRequest) (DestinationResult, error)
}

// HeaderChecker is implemented by a Destination whose broker gives
// some message headers a meaning of its own (JetStream's Nats-Rollup,
// Nats-Msg-Id, ...): an endpoint's own headers of such names are
// refused when it is created or updated.
type HeaderChecker interface {
	// CheckHeader reports whether an endpoint may set the header, named
	// in canonical form (http.CanonicalHeaderKey).
	CheckHeader(name string) error
}

// DestinationRequest is one attempt to deliver to a Destination.
type DestinationRequest struct {
	// Target is the endpoint's URL, parsed and checked.
	Target *url.URL
	// Header holds what an HTTP endpoint would receive as headers: the
	// Standard Webhooks webhook-id, webhook-timestamp and
	// webhook-signature, Content-Type, and the endpoint's own headers.
	// A broker message carries them as its headers (or attributes), so
	// consumers verify it as they would a request.
	Header http.Header
	// Body is the signed payload.
	Body []byte
	// DeliveryID identifies the delivery across its attempts: a broker
	// that drops duplicates by ID (JetStream's Nats-Msg-Id) keys on it.
	DeliveryID string
	// OrderingKey is the message's Message.OrderingKey; "" for none.
	OrderingKey string
}

// DestinationResult is a broker's answer to one attempt.
type DestinationResult struct {
	// Response is recorded as the attempt's response: the broker's ack,
	// such as a JetStream stream and sequence.
	Response []byte
	// Header is recorded as the attempt's response headers.
	Header http.Header
}

// ErrDestination means an endpoint URL names a destination that is not
// registered, or one that refuses the tenant's target.
var ErrDestination = fmt.Errorf("%w: destination", ErrInvalidURL)

// destination returns the Destination registered for rawURL's scheme,
// and nil for http and https (the built-in destination) or when none is
// registered. It allocates nothing, as the HTTP path must stay as cheap
// as it was.
func (d *Dispatcher) destination(rawURL string) Destination {
	if len(d.opts.Destinations) == 0 {
		return nil
	}
	i := strings.IndexByte(rawURL, ':')
	if i <= 0 {
		return nil
	}
	return d.opts.Destinations[rawURL[:i]]
}

// checkDestinationHeaders refuses the endpoint's own headers that the
// destination's broker reserves.
func checkDestinationHeaders(dest Destination, headers map[string]string) error {
	hc, ok := dest.(HeaderChecker)
	if !ok {
		return nil
	}
	for name := range headers {
		if err := hc.CheckHeader(http.CanonicalHeaderKey(name)); err != nil {
			return fmt.Errorf("%w: header %s: %w", ErrInvalid, http.CanonicalHeaderKey(name), err)
		}
	}
	return nil
}

// checkDestination validates a broker endpoint's URL for the tenant:
// its scheme must be registered, the URL well formed, and the
// Destination must accept the target.
func (d *Dispatcher) checkDestination(tenantID, rawURL string) (*url.URL, error) {
	u, err := parseDestinationURL(rawURL)
	if err != nil {
		return nil, err
	}
	dest := d.opts.Destinations[u.Scheme]
	if dest == nil {
		return nil, fmt.Errorf("%w: scheme %q is not http or https, nor a destination the operator registered", ErrDestination, u.Scheme)
	}
	if err := dest.Check(tenantID, u); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDestination, u.Scheme, err)
	}
	return u, nil
}

// parseDestinationURL parses a broker URL under the same syntactic rules
// as CheckURL's (length, no whitespace, userinfo or fragment), but any
// scheme: whether the scheme is known is the caller's to check.
func parseDestinationURL(raw string) (*url.URL, error) {
	if err := checkURLText(raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: url does not parse", ErrInvalidURL)
	case u.Scheme == "":
		return nil, fmt.Errorf("%w: url is not absolute", ErrInvalidURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: url contains userinfo", ErrInvalidURL)
	}
	return u, nil
}

// TopicName returns the topic or subject a broker URL names: its host
// and path, as in "nats://webhooks.acme.orders" or
// "kafka://webhooks-acme-orders". Destinations confine it to the
// tenant's prefix with CheckTopic.
func TopicName(target *url.URL) string {
	if target.Opaque != "" {
		return target.Opaque
	}
	return target.Host + target.Path
}

// CheckTopic reports whether target names a topic under prefix and
// carries nothing else (no query, which would configure the broker's
// driver, and no port): a destination's Check for tenants that choose
// only the rest of the name.
func CheckTopic(target *url.URL, prefix string) (string, error) {
	name := TopicName(target)
	switch {
	case prefix == "":
		return "", fmt.Errorf("%w: no topic prefix for this tenant", ErrInvalid)
	case target.RawQuery != "" || target.ForceQuery:
		return "", fmt.Errorf("%w: url has a query", ErrInvalid)
	case target.Port() != "":
		return "", fmt.Errorf("%w: url has a port", ErrInvalid)
	case !strings.HasPrefix(name, prefix) || len(name) == len(prefix):
		return "", fmt.Errorf("%w: topic %q is not under this tenant's prefix %q", ErrInvalid, name, prefix)
	}
	return name, nil
}

// unknownScheme turns CheckURL's refusal of a scheme other than http
// and https into one that says destinations are registered by the
// operator; other errors pass unchanged.
func (d *Dispatcher) unknownScheme(err error, raw string) error {
	u, perr := parseDestinationURL(raw)
	switch {
	case perr != nil || u.Scheme == "http" || u.Scheme == "https":
		return err
	case d.opts.Destinations[u.Scheme] != nil:
		return fmt.Errorf("%w: write the scheme %q in lower case", ErrDestination, u.Scheme)
	}
	return fmt.Errorf("%w: scheme %q is not http or https, nor a destination the operator registered", ErrDestination, u.Scheme)
}
