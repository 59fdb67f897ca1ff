package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Errors of the delivery side.
var (
	// ErrNotFound: no such endpoint, message or delivery for this tenant.
	ErrNotFound = errors.New("webhook: not found")
	// ErrConflict: an ID is taken, or an update was made against a stale
	// version or an expired lease.
	ErrConflict = errors.New("webhook: conflict")
	// ErrInvalid: input failed validation; the message names the field.
	ErrInvalid = errors.New("webhook: invalid")
)

// Endpoint is where a tenant's webhooks go.
type Endpoint struct {
	ID       string
	TenantID string
	URL      string
	// EventTypes the endpoint subscribes to, each a type or a family
	// ("invoice.*": every type starting "invoice."); empty means every
	// type.
	EventTypes []string
	// Channels, when set, narrow what the endpoint takes to messages on
	// at least one of them (Message.Channels); empty: messages on any
	// channel or none.
	Channels []string
	// Secrets are the endpoint's signing secrets (whsec_ or whsk_), sealed
	// with the dispatcher's Seal function. The first signs; the others
	// sign beside it until PreviousSecretsUntil (always, when that is
	// zero): a rotation's overlap.
	Secrets              [][]byte
	PreviousSecretsUntil time.Time
	// Headers are sent with every delivery (EndpointSpec.Headers).
	Headers map[string]string
	// Auth is the sealed EndpointAuth the receiver checks; nil: none.
	Auth []byte
	// RateLimit caps deliveries per second to this endpoint: from each
	// worker process, or from all of them with a shared
	// WorkerOptions.RateLimiter. 0 means none; otherwise MinRateLimit to
	// 1e6.
	RateLimit float64
	// Ordered delivers messages in order: a message waits until the one
	// before it with the same Message.OrderingKey succeeded or was
	// dead-lettered. Messages with other keys are not held by it; the
	// messages without a key are one sequence of their own.
	Ordered bool
	// APIVersion pins the payload version this endpoint receives (see
	// DispatcherOptions.Render); "" follows the latest.
	APIVersion string
	// DisabledReason is set when the endpoint is disabled (410 Gone,
	// failing for too long, or by hand); "" means enabled.
	DisabledReason string
	// FailingSince is when the endpoint's current run of failures began;
	// zero while it succeeds.
	FailingSince time.Time
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64 // optimistic concurrency, as in package tenancy
}

// Subscribed reports whether the endpoint takes events of type t.
func (e *Endpoint) Subscribed(t string) bool {
	if len(e.EventTypes) == 0 {
		return true
	}
	for _, filter := range e.EventTypes {
		if matchesEventType(filter, t) {
			return true
		}
	}
	return false
}

// Takes reports whether the endpoint takes msg: subscribed to its
// event type and, if the endpoint has channels, on one of them.
func (e *Endpoint) Takes(msg *Message) bool {
	if !e.Subscribed(msg.EventType) {
		return false
	}
	if len(e.Channels) == 0 {
		return true
	}
	for _, c := range msg.Channels {
		if slices.Contains(e.Channels, c) {
			return true
		}
	}
	return false
}

// Message is one event for a tenant. Its ID is sent as webhook-id on
// every attempt to every endpoint, so receivers can deduplicate.
type Message struct {
	ID        string
	TenantID  string
	EventType string
	Payload   json.RawMessage
	// Subject names the data subject the payload is about, so the gdpr
	// package can export and erase it; "" when none.
	Subject string
	// Channels route the message within its event type: an endpoint
	// with channels takes it only if it is on one of them (for example a
	// project or a customer of the tenant's). At most 10, each named as
	// an event type is.
	Channels []string
	// OrderingKey names the sequence the message belongs to, such as the
	// ID of the invoice or customer it is about: an ordered endpoint
	// (Endpoint.Ordered) takes each key's messages one at a time, in the
	// order they were sent, while other keys' messages go on. "" is a
	// sequence of its own. At most 256 bytes of UTF-8 without control
	// characters.
	OrderingKey string
	CreatedAt   time.Time
}

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states.
const (
	StatePending   DeliveryState = "pending"   // waiting for its next attempt
	StateSucceeded DeliveryState = "succeeded" // an attempt got a 2xx
	StateDead      DeliveryState = "dead"      // out of attempts, or its endpoint is gone
)

// Delivery is one message on its way to one endpoint.
type Delivery struct {
	ID         string
	Message    *Message
	EndpointID string
	State      DeliveryState
	Attempts   int       // attempts made so far
	NextAt     time.Time // when the next attempt is due (pending)
	LastError  string    // outcome of the last failed attempt
	// Seq orders deliveries to one endpoint (enqueue order).
	Seq int64
	// Lease is the claim a worker holds: its token and expiry. Complete
	// succeeds only with the token, so a worker whose lease ran out cannot
	// overwrite the work of the one that took over.
	LeaseToken string
	LeaseUntil time.Time
	UpdatedAt  time.Time
	// EndpointVersion is the endpoint's Version when Claim took the
	// delivery (0: not known), so that a worker uses the endpoint it
	// has cached while that is still current, without reading it again.
	EndpointVersion int64
}

// Attempt is the log of one delivery attempt.
type Attempt struct {
	DeliveryID string
	At         time.Time
	Status     int           // HTTP status; 0 when no response came, and for a broker Destination (its ack is the Response)
	Latency    time.Duration // until the response headers, or the failure
	Error      string        // why it failed; "" on success
	Response   []byte        // the response body, truncated
	// RequestHeaders are the headers the attempt sent (the signature
	// and custom headers included), with credentials redacted;
	// ResponseHeaders the receiver's. Each is at most 64 headers of at
	// most 1 KiB; a repeated header's values are joined with ", ".
	RequestHeaders, ResponseHeaders map[string]string
}

// Bounds on the headers an attempt records.
const (
	maxRecordedHeaders = 64
	maxRecordedValue   = 1 << 10
)

// redactedHeaders are sent but never recorded: they carry credentials.
var redactedHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true}

// RecordedHeaders is h as an attempt records it: at most 64 headers
// (the first by name when there are more), values joined, made valid
// UTF-8 and cut to 1 KiB, credentials redacted. It is on every
// attempt's path, so it does no more than that asks.
func RecordedHeaders(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(h), maxRecordedHeaders))
	record := func(name string, values []string) {
		value := ""
		switch {
		case redactedHeaders[http.CanonicalHeaderKey(name)]:
			value = "[redacted]"
		case len(values) == 1:
			value = values[0]
		default:
			value = strings.Join(values, ", ")
		}
		if len(value) > maxRecordedValue {
			value = value[:maxRecordedValue]
		}
		out[strings.ToValidUTF8(name, "")] = strings.ToValidUTF8(value, "")
	}
	if len(h) <= maxRecordedHeaders {
		for name, values := range h {
			record(name, values)
		}
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(h))[:maxRecordedHeaders] {
		record(name, h[name])
	}
	return out
}

// Limits on what the API accepts.
const (
	maxPayload     = 1 << 20
	maxEventType   = 128
	maxEventTypes  = 100
	maxMetadata    = 50
	maxChannels    = 10
	maxOrderingKey = 256
)

func validEventType(t string) bool {
	if t == "" || len(t) > maxEventType {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (m *Message) validate() error {
	switch {
	case m.TenantID == "":
		return fmt.Errorf("%w: message tenant is required", ErrInvalid)
	case !textfield.Storable(m.TenantID, m.ID, m.Subject):
		return fmt.Errorf("%w: message tenant, id and subject must be valid UTF-8 without NUL", ErrInvalid)
	case !validID(m.ID):
		return fmt.Errorf("%w: message id must be 1 to %d bytes without '.' or spaces", ErrInvalid, maxIDLen)
	case !validEventType(m.EventType):
		return fmt.Errorf("%w: event type must be 1 to %d characters of a-z, A-Z, 0-9, '_', '.', '-'", ErrInvalid, maxEventType)
	case len(m.Payload) > maxPayload:
		return fmt.Errorf("%w: payload is %d bytes, more than %d", ErrInvalid, len(m.Payload), maxPayload)
	case !json.Valid(m.Payload):
		return fmt.Errorf("%w: payload must be valid JSON", ErrInvalid)
	}
	if err := checkOrderingKey(m.OrderingKey); err != nil {
		return err
	}
	return checkChannels(m.Channels, maxChannels)
}

// checkOrderingKey refuses an ordering key that is too long or holds
// invalid UTF-8 or control characters.
func checkOrderingKey(key string) error {
	if len(key) > maxOrderingKey {
		return fmt.Errorf("%w: ordering key is %d bytes, more than %d", ErrInvalid, len(key), maxOrderingKey)
	}
	if !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) {
		return fmt.Errorf("%w: ordering key must be valid UTF-8 without control characters", ErrInvalid)
	}
	return nil
}

// checkChannels refuses more than max channels or a malformed one.
func checkChannels(channels []string, max int) error {
	if len(channels) > max {
		return fmt.Errorf("%w: at most %d channels", ErrInvalid, max)
	}
	for _, c := range channels {
		if !validEventType(c) {
			return fmt.Errorf("%w: channel %q: 1 to %d characters of a-z, A-Z, 0-9, '_', '.', '-'", ErrInvalid, c, maxEventType)
		}
	}
	return nil
}
