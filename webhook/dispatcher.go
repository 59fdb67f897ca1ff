package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// AEAD seals endpoint secrets at rest. A crypto.Keyring bound to the
// tenant (Keyring.AEAD) is one; so is any tink.AEAD.
type AEAD interface {
	// Encrypt seals plaintext, bound to associatedData.
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	// Decrypt opens what Encrypt sealed with the same associatedData.
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// DispatcherOptions configure a Dispatcher. The zero value is a sensible
// default.
type DispatcherOptions struct {
	// HTTPSOnly refuses endpoint URLs that are not https. Default false.
	HTTPSOnly bool
	// AllowCIDRs are the ranges an endpoint URL may name by address
	// although ForbiddenIP denies them: give the delivery client's
	// DeliveryClientOptions.AllowCIDRs. An endpoint whose host is a
	// forbidden address (an IP literal, or localhost) is refused when it
	// is created, not first at delivery; metadata endpoints always are.
	// Host names are checked when the client dials them. Default: none.
	AllowCIDRs []netip.Prefix
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Render, when set, turns a message into the body one endpoint
	// receives, for example down-converting it to the endpoint's pinned
	// APIVersion. The body is signed as rendered. Default: the payload as
	// sent.
	Render func(ctx context.Context, e *Endpoint, msg *Message) ([]byte, error)
	// IdempotencyWindow is how long after a message was first sent a
	// Send of the same ID, event type and payload returns the first
	// send's result rather than ErrConflict. Default
	// DefaultIdempotencyWindow (a day); negative: never.
	IdempotencyWindow time.Duration
	// Catalogue, when set, is enforced: Send refuses event types it does
	// not know or has archived and payloads that break their schema, and
	// endpoints subscribe only to its types or families of them.
	// Default: none; any event type is sent.
	Catalogue *Catalogue
	// OperatorTenant, when set, names the tenant whose endpoints receive
	// the operational events (the Event* types: every endpoint change,
	// and endpoints failing, recovering or exhausting a delivery) as
	// webhooks, through the same queue and workers as everything else.
	// Its messages are not checked against the Catalogue, and events
	// about its own endpoints are not sent to it. Default: none.
	OperatorTenant string
	// OnEvent, when set, is told of every operational event in this
	// process. Default: none.
	OnEvent func(Event)
	// Destinations deliver to endpoints whose URL has another scheme
	// than http or https, by scheme: "nats" for a JetStream subject
	// (webhook/jetstreamdest), "kafka", "rabbit", "awssqs", "gcppubsub"
	// for gocloud.dev/pubsub topics (webhook/pubsubdest). Endpoints may
	// use only the schemes registered here, and each Destination confines
	// a tenant to its own subjects or topics. Default: none; http and
	// https only.
	Destinations map[string]Destination
	// Logger records operational events that could not be sent. Default
	// slog.Default().
	Logger *slog.Logger
	// TracerProvider and MeterProvider receive a span per attempt and
	// saaskit.webhook.* metrics. Default the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Dispatcher manages endpoints and fans messages out to them durably;
// Run delivers what it queued.
type Dispatcher struct {
	endpoints EndpointStore
	queue     Queue
	seal      func(tenantID string) AEAD
	opts      DispatcherOptions

	mu      sync.Mutex
	signers map[string]*cachedSigner // by endpoint ID
	// endpointCache holds the endpoints deliveries were made to, by ID,
	// each as read at its Version: a delivery whose claim carries that
	// version uses it without reading the store.
	endpointCache map[string]*Endpoint
	endpointReads singleflight.Group
	subscribers   subscribers
	health        healthBook
	tel           *telemetry
	wake          chan struct{} // tells an idle Run of new work
}

type cachedSigner struct {
	version       int64
	secrets       int // how many of the endpoint's secrets sign
	signer        *Signer
	authorization string           // the Authorization header; "" for none
	certificate   *tls.Certificate // the TLS client certificate; nil for none
}

// NewDispatcher returns a Dispatcher over the stores. seal returns the
// AEAD that seals a tenant's endpoint secrets.
func NewDispatcher(endpoints EndpointStore, queue Queue, seal func(tenantID string) AEAD, opts DispatcherOptions) (*Dispatcher, error) {
	if endpoints == nil || queue == nil || seal == nil {
		return nil, fmt.Errorf("%w: endpoint store, queue and seal are required", ErrInvalid)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{endpoints: endpoints, queue: queue, seal: seal, opts: opts, signers: map[string]*cachedSigner{}, endpointCache: map[string]*Endpoint{}, wake: make(chan struct{}, 1)}
	stats, _ := queue.(StatsQueue)
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider, gaugeSources{queue: stats, now: opts.Now, breakers: d.health.states})
	if err != nil {
		return nil, err
	}
	d.tel = tel
	return d, nil
}

// QueueStats reports the queue's backlog, for readiness checks and
// dashboards; ErrUnsupported when the queue is not a StatsQueue.
func (d *Dispatcher) QueueStats(ctx context.Context) (QueueStats, error) {
	stats, ok := d.queue.(StatsQueue)
	if !ok {
		return QueueStats{}, fmt.Errorf("queue stats: %w", ErrUnsupported)
	}
	return stats.Stats(ctx, d.opts.Now().UTC())
}

// ErrUnsupported means the queue does not implement an optional interface
// (TxQueue, SubjectQueue).
var ErrUnsupported = errors.New("webhook: not supported by this queue")

// Send queues msg for every enabled endpoint of its tenant that
// subscribes to its event type and returns how many deliveries it queued.
// An empty ID gets a fresh one; CreatedAt defaults to now.
//
// Send is idempotent by message ID: sending again a message the tenant
// sent within DispatcherOptions.IdempotencyWindow, with the same event
// type and payload, queues nothing and returns the first send's count,
// so a producer may retry a Send whose outcome it did not learn. Other
// reuse of an ID is ErrConflict. (SendMany is idempotent too; SendTx and
// SendManyTx answer ErrConflict for any ID already used, since they
// must not read outside the caller's transaction.)
func (d *Dispatcher) Send(ctx context.Context, msg *Message) (int, error) {
	n, err := d.send(ctx, msg, d.endpoints.ListEndpoints, d.queue.Enqueue)
	if errors.Is(err, ErrConflict) {
		return d.replay(ctx, msg)
	}
	if n > 0 {
		d.Wake()
	}
	return n, err
}

// replay answers a Send of a message ID already used: the first send's
// count of deliveries if it is the same message within the idempotency
// window, else ErrConflict saying why.
func (d *Dispatcher) replay(ctx context.Context, msg *Message) (int, error) {
	first, n, err := d.sentBefore(ctx, msg)
	if err != nil {
		return 0, err
	}
	if first == nil {
		return 0, fmt.Errorf("send: message %s: %w", msg.ID, ErrConflict)
	}
	return n, d.checkRetry(first, msg)
}

// sentBefore returns the message the queue keeps under msg's tenant and
// ID, and how many deliveries it has; nil if none.
func (d *Dispatcher) sentBefore(ctx context.Context, msg *Message) (*Message, int, error) {
	var first *Message
	n := 0
	for after := ""; ; {
		page, err := d.queue.Deliveries(ctx, msg.TenantID, DeliveryFilter{MessageID: msg.ID, AfterID: after})
		if err != nil {
			return nil, 0, fmt.Errorf("send: %w", err)
		}
		if len(page) == 0 {
			return first, n, nil
		}
		if first == nil {
			first = page[0].Message
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
}

// checkRetry accepts msg as a retry of first, the message sent before
// under its ID: the same event type and payload, within the idempotency
// window. Otherwise ErrConflict, saying why.
func (d *Dispatcher) checkRetry(first, msg *Message) error {
	window := d.opts.IdempotencyWindow
	if window == 0 {
		window = DefaultIdempotencyWindow
	}
	switch {
	case first.EventType != msg.EventType || first.PayloadExpunged() || !bytes.Equal(first.Payload, msg.Payload):
		return fmt.Errorf("send: message %s was sent with another event type or payload: %w", msg.ID, ErrConflict)
	case first.OrderingKey != msg.OrderingKey:
		return fmt.Errorf("send: message %s was sent with another ordering key: %w", msg.ID, ErrConflict)
	case window < 0 || d.opts.Now().Sub(first.CreatedAt) >= window:
		return fmt.Errorf("send: message %s was sent at %s, before the idempotency window: %w", msg.ID, first.CreatedAt.Format(time.RFC3339), ErrConflict)
	}
	return nil
}

// DefaultIdempotencyWindow is how long a message ID makes Send
// idempotent when DispatcherOptions.IdempotencyWindow is zero.
const DefaultIdempotencyWindow = 24 * time.Hour

// Wake tells an idle Run in this process that deliveries are due, so it
// claims them now rather than at its next poll. Send wakes by itself;
// call Wake after committing a transaction that used SendTx.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// SendTx is Send inside the caller's transaction (the transactional
// outbox): the message commits or rolls back with the business change
// made in tx. The queue must implement TxQueue and live in tx's database.
// Workers find the message at their next poll, or at once if the caller
// calls Wake after the commit.
func (d *Dispatcher) SendTx(ctx context.Context, tx *sql.Tx, msg *Message) (int, error) {
	tq, ok := d.queue.(TxQueue)
	if !ok {
		return 0, fmt.Errorf("send in a transaction: %w", ErrUnsupported)
	}
	return d.send(ctx, msg, d.listIn(tx), func(ctx context.Context, m *Message, eps []*Endpoint) error {
		return tq.EnqueueTx(ctx, tx, m, eps)
	})
}

// ExportSubject returns the tenant's messages about a data subject.
func (d *Dispatcher) ExportSubject(ctx context.Context, tenantID, subject string) ([]*Message, error) {
	sq, err := d.subjectQueue(subject)
	if err != nil {
		return nil, fmt.Errorf("export subject: %w", err)
	}
	return sq.SubjectMessages(ctx, tenantID, subject)
}

// EraseSubject deletes the tenant's messages about a data subject with
// their deliveries and attempts, and returns how many it erased.
func (d *Dispatcher) EraseSubject(ctx context.Context, tenantID, subject string) (int, error) {
	sq, err := d.subjectQueue(subject)
	if err != nil {
		return 0, fmt.Errorf("erase subject: %w", err)
	}
	return sq.EraseSubject(ctx, tenantID, subject)
}

func (d *Dispatcher) subjectQueue(subject string) (SubjectQueue, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: subject is required", ErrInvalid)
	}
	sq, ok := d.queue.(SubjectQueue)
	if !ok {
		return nil, ErrUnsupported
	}
	return sq, nil
}

func (d *Dispatcher) send(ctx context.Context, msg *Message, list func(ctx context.Context, tenantID string) ([]*Endpoint, error),
	enqueue func(context.Context, *Message, []*Endpoint) error) (int, error) {
	return d.sendMany(ctx, []*Message{msg}, list, func(ctx context.Context, out []Outgoing) error {
		return enqueue(ctx, out[0].Message, out[0].Endpoints)
	})
}

// SendMany is Send for many messages at once, for bulk producers: they
// are queued all or none, in a few statements for all of them on SQL,
// and it returns how many deliveries were queued. It is idempotent by
// message ID as Send is: a retried batch queues only the messages not
// sent before, and counts the others' first deliveries. The queue must
// implement BulkQueue.
func (d *Dispatcher) SendMany(ctx context.Context, msgs []*Message) (int, error) {
	bq, ok := d.queue.(BulkQueue)
	if !ok {
		return 0, fmt.Errorf("send many: %w", ErrUnsupported)
	}
	n, err := d.sendMany(ctx, msgs, d.endpoints.ListEndpoints, bq.EnqueueMany)
	if errors.Is(err, ErrConflict) {
		n, err = d.sendManyAgain(ctx, msgs, bq)
	}
	if n > 0 {
		d.Wake()
	}
	return n, err
}

// sendManyAgain answers a SendMany that met used message IDs (and so
// queued nothing): the messages sent before within the idempotency
// window count their first deliveries and are not queued again, the
// rest are queued; any other reuse of an ID is ErrConflict, and then
// nothing is queued.
func (d *Dispatcher) sendManyAgain(ctx context.Context, msgs []*Message, bq BulkQueue) (int, error) {
	replayed, fresh := 0, make([]*Message, 0, len(msgs))
	seen := make(map[[2]string]bool, len(msgs))
	for _, msg := range msgs {
		key := [2]string{msg.TenantID, msg.ID}
		if seen[key] {
			return 0, fmt.Errorf("send: message %s is in the batch twice: %w", msg.ID, ErrConflict)
		}
		seen[key] = true
		first, n, err := d.sentBefore(ctx, msg)
		if err == nil && first != nil {
			err = d.checkRetry(first, msg)
		}
		switch {
		case err != nil:
			return 0, err
		case first == nil:
			fresh = append(fresh, msg)
		default:
			replayed += n
		}
	}
	n, err := d.sendMany(ctx, fresh, d.endpoints.ListEndpoints, bq.EnqueueMany)
	if err != nil {
		return 0, err
	}
	return replayed + n, nil
}

// SendManyTx is SendMany inside the caller's transaction, as SendTx is
// Send. The queue must implement BulkTxQueue and live in tx's database;
// on an error, roll tx back.
func (d *Dispatcher) SendManyTx(ctx context.Context, tx *sql.Tx, msgs []*Message) (int, error) {
	bq, ok := d.queue.(BulkTxQueue)
	if !ok {
		return 0, fmt.Errorf("send many in a transaction: %w", ErrUnsupported)
	}
	return d.sendMany(ctx, msgs, d.listIn(tx), func(ctx context.Context, out []Outgoing) error {
		return bq.EnqueueManyTx(ctx, tx, out)
	})
}

// listIn lists a tenant's endpoints inside tx when the endpoint store
// can, else outside it.
func (d *Dispatcher) listIn(tx *sql.Tx) func(ctx context.Context, tenantID string) ([]*Endpoint, error) {
	if es, ok := d.endpoints.(TxEndpointStore); ok {
		return func(ctx context.Context, tenantID string) ([]*Endpoint, error) {
			return es.ListEndpointsTx(ctx, tx, tenantID)
		}
	}
	return d.endpoints.ListEndpoints
}

// sendMany validates the messages, finds each one's subscribed, enabled
// endpoints (listing each tenant's once), and enqueues those that have
// any. It returns how many deliveries were queued.
func (d *Dispatcher) sendMany(ctx context.Context, msgs []*Message, list func(ctx context.Context, tenantID string) ([]*Endpoint, error),
	enqueue func(context.Context, []Outgoing) error) (int, error) {
	for _, msg := range msgs {
		if msg.ID == "" {
			msg.ID = newID("msg_")
		}
		if msg.CreatedAt.IsZero() {
			msg.CreatedAt = d.opts.Now().UTC()
		}
		if err := msg.validate(); err != nil {
			return 0, err
		}
		if c := d.opts.Catalogue; c != nil && (d.opts.OperatorTenant == "" || msg.TenantID != d.opts.OperatorTenant) {
			if err := c.checkMessage(msg); err != nil {
				return 0, err
			}
		}
	}
	endpoints := map[string][]*Endpoint{}
	var out []Outgoing
	n := 0
	for _, msg := range msgs {
		eps, ok := endpoints[msg.TenantID]
		if !ok {
			var err error
			if eps, err = list(ctx, msg.TenantID); err != nil {
				return 0, fmt.Errorf("send: %w", err)
			}
			endpoints[msg.TenantID] = eps
		}
		var targets []*Endpoint
		for _, e := range eps {
			if e.DisabledReason == "" && e.Takes(msg) {
				targets = append(targets, e)
			}
		}
		if len(targets) > 0 {
			out = append(out, Outgoing{Message: msg, Endpoints: targets})
			n += len(targets)
		}
	}
	if len(out) == 0 {
		return 0, nil
	}
	if err := enqueue(ctx, out); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	for _, o := range out {
		d.tel.messages.Add(ctx, 1, metric.WithAttributes(attribute.String("saaskit.webhook.event_type", o.Message.EventType)))
	}
	return n, nil
}

// RetryDead queues a dead delivery of the tenant again, due now.
func (d *Dispatcher) RetryDead(ctx context.Context, tenantID, deliveryID string) error {
	return d.queue.Requeue(ctx, tenantID, deliveryID, d.opts.Now().UTC())
}

// Recover requeues every dead delivery of the tenant's endpoint whose
// last change falls in [since, until), page by page with no cap, and
// returns how many it requeued.
func (d *Dispatcher) Recover(ctx context.Context, tenantID, endpointID string, since, until time.Time) (int, error) {
	n := 0
	for after := ""; ; {
		page, err := d.queue.Deliveries(ctx, tenantID, DeliveryFilter{
			EndpointID: endpointID, State: StateDead, Since: since, Until: until, AfterID: after,
		})
		if err != nil {
			return n, fmt.Errorf("recover: %w", err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, del := range page {
			if err := d.RetryDead(ctx, tenantID, del.ID); err != nil && !errors.Is(err, ErrConflict) {
				return n, fmt.Errorf("recover delivery %s: %w", del.ID, err)
			}
			n++
		}
		after = page[len(page)-1].ID
	}
}

// Verifier returns a Verifier trusting the current secrets of the
// tenant's endpoints with those IDs (all of the tenant's endpoints when
// none are named): what the endpoints' owner would build, for testing an
// endpoint or for a receiver inside the same service.
func (d *Dispatcher) Verifier(ctx context.Context, tenantID string, opts VerifyOptions, endpointIDs ...string) (*Verifier, error) {
	var eps []*Endpoint
	if len(endpointIDs) == 0 {
		all, err := d.endpoints.ListEndpoints(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		eps = all
	}
	for _, id := range endpointIDs {
		e, err := d.endpoints.GetEndpoint(ctx, tenantID, id)
		if err != nil {
			return nil, err
		}
		eps = append(eps, e)
	}
	var keys []string
	for _, e := range eps {
		k, err := d.unseal(e)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k[:e.activeSecrets(d.opts.Now())]...)
	}
	return NewVerifier(opts, keys...)
}

// unseal returns the endpoint's secrets in the clear.
func (d *Dispatcher) unseal(e *Endpoint) ([]string, error) {
	keys := make([]string, 0, len(e.Secrets))
	for _, sealed := range e.Secrets {
		secret, err := d.seal(e.TenantID).Decrypt(sealed, secretAD(e))
		if err != nil {
			return nil, fmt.Errorf("unseal secret of endpoint %s: %w", e.ID, err)
		}
		keys = append(keys, string(secret))
	}
	return keys, nil
}

// signer returns the endpoint's signer and Authorization header value,
// unsealing its secrets once per endpoint version and again when a
// rotation's overlap ends.
func (d *Dispatcher) signer(e *Endpoint) (*cachedSigner, error) {
	active := e.activeSecrets(d.opts.Now())
	d.mu.Lock()
	c := d.signers[e.ID]
	d.mu.Unlock()
	if c != nil && c.version == e.Version && c.secrets == active {
		return c, nil
	}
	keys, err := d.unseal(e)
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(keys[:active]...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
	}
	c = &cachedSigner{version: e.Version, secrets: active, signer: s}
	if c.authorization, c.certificate, err = d.credentialsOf(e); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.signers[e.ID] = c
	d.mu.Unlock()
	return c, nil
}

// endpoint returns del's endpoint: the cached one when del's claim found
// it at the cached version, else the store's, which is then cached.
// Concurrent reads of one endpoint share one store read, so the first
// batch of deliveries to it needs one connection, not one each. Each
// caller gets its own copy to change.
func (d *Dispatcher) endpoint(ctx context.Context, del *Delivery) (*Endpoint, error) {
	d.mu.Lock()
	c := d.endpointCache[del.EndpointID]
	d.mu.Unlock()
	if c == nil || del.EndpointVersion == 0 || c.Version != del.EndpointVersion || c.TenantID != del.Message.TenantID {
		read, err, _ := d.endpointReads.Do(del.Message.TenantID+"\x00"+del.EndpointID, func() (any, error) {
			e, err := d.endpoints.GetEndpoint(ctx, del.Message.TenantID, del.EndpointID)
			d.mu.Lock()
			defer d.mu.Unlock()
			if errors.Is(err, ErrNotFound) {
				delete(d.endpointCache, del.EndpointID)
			}
			if err != nil {
				return nil, err
			}
			d.endpointCache[e.ID] = e
			return e, nil
		})
		if err != nil {
			return nil, err
		}
		c = read.(*Endpoint)
	}
	return new(*c), nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
