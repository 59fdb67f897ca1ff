package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Errors.
var (
	// ErrInvalid reports an event or option that breaks a rule; the
	// message names the field and the rule.
	ErrInvalid = errors.New("events: invalid")
	// ErrLeaseLost reports that a relay's lease on a lane ran out and
	// another relay took it.
	ErrLeaseLost = errors.New("events: lease lost")
)

// Event is one fact a product publishes for other products: written to
// the outbox in the transaction that made the change, relayed to the
// broker, handled by each consumer once.
type Event struct {
	// ID is unique per event; the broker deduplicates on it (JetStream's
	// Nats-Msg-Id). Default: 32 random hex digits, set by Prepare.
	ID string
	// TenantID owns the event: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'.
	TenantID string
	// Type is what happened, dot-separated lowercase words:
	// "user.created".
	Type string
	// Version is the version of the payload's schema. Default 1.
	Version int
	// AggregateKey names the entity the event is about ("user/42"):
	// events of one tenant and aggregate are relayed and handled in the
	// order they were written. Default: the ID (an aggregate of its own).
	AggregateKey string
	// AggregateSeq is the event's position in its aggregate, 1, 2, 3...,
	// assigned by the outbox when the event is written.
	AggregateSeq int64
	// SubjectKey identifies the data subject (a person) whose personal
	// data the payload holds, for erasure: an opaque user ID, never an
	// email address. Empty when the event holds no personal data.
	SubjectKey string
	// Trace is the trace context (W3C traceparent, tracestate, baggage)
	// of the code that wrote the event. Default: injected from the
	// context by Prepare with the global propagator.
	Trace map[string]string
	// Payload is the event's body, usually JSON.
	Payload []byte
	// OccurredAt is when the change happened. Default: now, by Prepare.
	OccurredAt time.Time
}

var (
	tenantRule = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	typeRule   = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+){0,7}$`)
	idRule     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// Validate checks the fields a broker subject and the outbox need.
func (e *Event) Validate() error {
	switch {
	case e == nil:
		return fmt.Errorf("%w: nil event", ErrInvalid)
	case !idRule.MatchString(e.ID):
		return fmt.Errorf("%w: ID %q: must be 1 to 128 of A-Z, a-z, 0-9, '_', '.', ':' and '-'", ErrInvalid, e.ID)
	case !tenantRule.MatchString(e.TenantID):
		return fmt.Errorf("%w: TenantID %q: must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", ErrInvalid, e.TenantID)
	case len(e.Type) > 128 || !typeRule.MatchString(e.Type):
		return fmt.Errorf("%w: Type %q: must be up to 8 dot-separated words of a-z, 0-9, '_' and '-'", ErrInvalid, e.Type)
	case e.Version < 1:
		return fmt.Errorf("%w: Version %d: must be at least 1", ErrInvalid, e.Version)
	case e.AggregateKey == "" || len(e.AggregateKey) > 255:
		return fmt.Errorf("%w: AggregateKey: must be 1 to 255 bytes", ErrInvalid)
	case len(e.SubjectKey) > 255:
		return fmt.Errorf("%w: SubjectKey: must be at most 255 bytes", ErrInvalid)
	}
	return nil
}

// Prepare fills e's defaults (ID, Version, AggregateKey, OccurredAt,
// and Trace from ctx) and validates it. Outboxes call it before writing.
func Prepare(ctx context.Context, e *Event, now time.Time) error {
	if e == nil {
		return fmt.Errorf("%w: nil event", ErrInvalid)
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Version == 0 {
		e.Version = 1
	}
	if e.AggregateKey == "" {
		e.AggregateKey = e.ID
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	if e.Trace == nil {
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(ctx, carrier)
		if len(carrier) > 0 {
			e.Trace = map[string]string(carrier)
		}
	}
	return e.Validate()
}

// NewID returns 32 random hex digits.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Lanes is how many lanes an outbox splits its events into by tenant
// and aggregate. A relay leases one lane at a time, so up to Lanes
// relays (in any number of processes) publish at once, and each
// aggregate's events go out in order from the one relay holding its
// lane.
const Lanes = 64

// Lane returns the lane of tenant's aggregate, in [0, Lanes).
func Lane(tenantID, aggregateKey string) int {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(aggregateKey))
	return int(h.Sum32() % Lanes)
}

// SubjectToken is the broker subject token that stands for a subject
// key: its unpadded base64url encoding, or "_" for none. Any key becomes
// a valid token, and erasure can purge by it.
func SubjectToken(subjectKey string) string {
	if subjectKey == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(subjectKey))
}

// Subject returns the broker subject of e under prefix:
// <prefix>.<tenant>.<subject token>.<type>, for example
// events.acme.dXNlci00Mg.user.created. Consumers filter on
// <prefix>.*.*.user.created; erasure purges <prefix>.<tenant>.<token>.>.
func Subject(prefix string, e *Event) string {
	return strings.Join([]string{prefix, e.TenantID, SubjectToken(e.SubjectKey), e.Type}, ".")
}

// txKey carries a *sql.Tx in a context.
type txKey struct{}

// WithTx returns ctx carrying tx, the transaction a handler's writes
// join so that they commit with the record that the event was handled.
func WithTx(ctx context.Context, tx *sql.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// Tx returns the transaction an Inbox runs a handler in, or nil when it
// runs the handler outside one (the in-memory inbox).
func Tx(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{}).(*sql.Tx)
	return tx
}
