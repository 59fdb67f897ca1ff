package jetstream

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/saaskit/saaskit/events"
)

// Header names: CloudEvents 1.0 in binary mode (ce-*), with saaskit's
// extensions, beside the W3C trace context headers (traceparent,
// tracestate, baggage) copied from Event.Trace.
const (
	HeaderSpecVersion  = "ce-specversion"
	HeaderID           = "ce-id"
	HeaderSource       = "ce-source"
	HeaderType         = "ce-type"
	HeaderTime         = "ce-time"
	HeaderTenant       = "ce-tenantid"
	HeaderVersion      = "ce-dataversion"
	HeaderAggregate    = "ce-aggregatekey"
	HeaderAggregateSeq = "ce-aggregateseq"
	HeaderSubjectKey   = "ce-subjectkey"
)

// cloudEventHeaders are the headers Decode does not read as trace context.
var cloudEventHeaders = map[string]bool{
	HeaderSpecVersion: true, HeaderID: true, HeaderSource: true, HeaderType: true, HeaderTime: true, HeaderTenant: true,
	HeaderVersion: true, HeaderAggregate: true, HeaderAggregateSeq: true, HeaderSubjectKey: true, nats.MsgIdHdr: true,
}

// Message encodes e as a NATS message on its subject under prefix, with
// Nats-Msg-Id set to its ID.
func Message(prefix, source string, e *events.Event) *nats.Msg {
	m := nats.NewMsg(events.Subject(prefix, e))
	m.Data = e.Payload
	h := m.Header
	h.Set(nats.MsgIdHdr, e.ID)
	h.Set(HeaderSpecVersion, "1.0")
	h.Set(HeaderID, e.ID)
	h.Set(HeaderSource, source)
	h.Set(HeaderType, e.Type)
	h.Set(HeaderTime, e.OccurredAt.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderTenant, e.TenantID)
	h.Set(HeaderVersion, strconv.Itoa(e.Version))
	h.Set(HeaderAggregate, e.AggregateKey)
	h.Set(HeaderAggregateSeq, strconv.FormatInt(e.AggregateSeq, 10))
	if e.SubjectKey != "" {
		h.Set(HeaderSubjectKey, e.SubjectKey)
	}
	for k, v := range e.Trace {
		if !cloudEventHeaders[k] {
			h.Set(k, v)
		}
	}
	return m
}

// Decode reads an event from a message that Message encoded.
func Decode(subject string, header nats.Header, data []byte) (*events.Event, error) {
	e := &events.Event{
		ID:           header.Get(HeaderID),
		TenantID:     header.Get(HeaderTenant),
		Type:         header.Get(HeaderType),
		AggregateKey: header.Get(HeaderAggregate),
		SubjectKey:   header.Get(HeaderSubjectKey),
		Payload:      data,
	}
	var err error
	if e.Version, err = strconv.Atoi(header.Get(HeaderVersion)); err != nil {
		return nil, fmt.Errorf("%w: message on %s: header %s: %v", events.ErrInvalid, subject, HeaderVersion, err)
	}
	if s := header.Get(HeaderAggregateSeq); s != "" {
		if e.AggregateSeq, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: message on %s: header %s: %v", events.ErrInvalid, subject, HeaderAggregateSeq, err)
		}
	}
	if e.OccurredAt, err = time.Parse(time.RFC3339Nano, header.Get(HeaderTime)); err != nil {
		return nil, fmt.Errorf("%w: message on %s: header %s: %v", events.ErrInvalid, subject, HeaderTime, err)
	}
	e.OccurredAt = e.OccurredAt.UTC() // as the outbox keeps it, whatever offset the header has
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if v := header.Get(k); v != "" {
			if e.Trace == nil {
				e.Trace = map[string]string{}
			}
			e.Trace[k] = v
		}
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("message on %s: %w", subject, err)
	}
	return e, nil
}

// headerCarrier is a propagation.TextMapCarrier over NATS headers, whose
// keys, unlike HTTP's, are case-sensitive and kept as written.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
