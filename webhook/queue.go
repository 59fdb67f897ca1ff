package webhook

import (
	"context"
	"database/sql"
	"time"
)

// EndpointStore keeps endpoints. Every method is scoped to a tenant:
// another tenant's endpoint is ErrNotFound.
type EndpointStore interface {
	// CreateEndpoint inserts e with Version 1; ErrConflict if its ID is taken.
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// GetEndpoint returns the tenant's endpoint with that ID.
	GetEndpoint(ctx context.Context, tenantID, id string) (*Endpoint, error)
	// ListEndpoints returns the tenant's endpoints, oldest first.
	ListEndpoints(ctx context.Context, tenantID string) ([]*Endpoint, error)
	// UpdateEndpoint replaces the endpoint if e.Version is current, then
	// increments e.Version; ErrConflict when stale.
	UpdateEndpoint(ctx context.Context, e *Endpoint) error
	// DeleteEndpoint removes the endpoint; workers let its pending
	// deliveries die.
	DeleteEndpoint(ctx context.Context, tenantID, id string) error
}

// Queue holds deliveries durably: a delivery it accepted is attempted
// until it succeeds or dies, whatever happens to the workers. It has six
// methods, one more than the house limit, because the attempt log is part
// of what a queue keeps.
type Queue interface {
	// Enqueue stores msg and one pending delivery per endpoint, due at
	// once, atomically.
	Enqueue(ctx context.Context, msg *Message, endpoints []*Endpoint) error
	// Claim leases up to max due deliveries until now+lease, longest due
	// first (by NextAt, then Seq), and returns them with their messages.
	// It skips a delivery to an ordered endpoint while an earlier one to
	// that endpoint is pending, and takes at most perEndpoint deliveries
	// of any one endpoint, so one busy endpoint cannot starve the others.
	Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*Delivery, error)
	// Complete records the attempt and moves the delivery to its next
	// state (d.State, d.NextAt, d.LastError, d.Attempts), releasing the
	// lease. A zero Attempt (At zero) records no attempt: the delivery was
	// postponed without one. ErrConflict when d.LeaseToken is no longer
	// the lease.
	Complete(ctx context.Context, d *Delivery, a Attempt) error
	// Deliveries lists the tenant's deliveries that match f, oldest first,
	// for dead-letter review and recovery.
	Deliveries(ctx context.Context, tenantID string, f DeliveryFilter) ([]*Delivery, error)
	// Requeue makes a dead delivery of the tenant pending again, due at.
	Requeue(ctx context.Context, tenantID, deliveryID string, at time.Time) error
	// Attempts returns the tenant's delivery's attempt log, oldest first.
	Attempts(ctx context.Context, tenantID, deliveryID string) ([]Attempt, error)
}

// DeliveryFilter selects deliveries; zero fields match anything.
type DeliveryFilter struct {
	EndpointID string
	MessageID  string
	State      DeliveryState
	Since      time.Time // updated at or after
	Until      time.Time // updated before
	AfterID    string    // keyset pagination: deliveries after this ID
	Limit      int       // default and maximum 1000
}

// EffectiveLimit is the page size a queue applies.
func (f DeliveryFilter) EffectiveLimit() int {
	if f.Limit <= 0 || f.Limit > 1000 {
		return 1000
	}
	return f.Limit
}

// Optional interfaces. A Queue may do more than Queue asks: find a
// subject's messages (SubjectQueue), enqueue in the caller's
// transaction (TxQueue, BulkTxQueue), enqueue many at once (BulkQueue),
// wake idle workers (WakeQueue), report its depth (StatsQueue),
// complete a batch (BatchQueue), keep attempt history (HistoryQueue),
// resend (ResendQueue) and expire (RetentionQueue). The Dispatcher
// finds each by a type assertion on the queue it was given, and does
// without it (or answers ErrUnsupported) when the queue has none. A
// wrapper around a queue (for metrics, tracing, faults) therefore hides
// every one of them unless it has them too: wrap the concrete store by
// embedding it (struct{ *sqlstore.Store }), which promotes all its
// methods, and override only what the wrapper changes, rather than
// embedding the Queue interface, which promotes only Queue's six
// (TestWrappedQueuesKeepTheirOptionalInterfaces shows both).

// SubjectQueue is a Queue that can find and erase the messages about one
// data subject (Message.Subject), for data-subject access and erasure
// requests. memstore and sqlstore implement it.
type SubjectQueue interface {
	// SubjectMessages returns the tenant's messages about subject, oldest
	// first.
	SubjectMessages(ctx context.Context, tenantID, subject string) ([]*Message, error)
	// EraseSubject deletes the tenant's messages about subject with their
	// deliveries and attempt logs, and returns how many messages it erased.
	EraseSubject(ctx context.Context, tenantID, subject string) (int, error)
}

// TxQueue is a Queue that can enqueue inside the caller's database
// transaction: the transactional outbox. sqlstore implements it.
type TxQueue interface {
	// EnqueueTx is Enqueue in tx: msg and its deliveries commit or roll
	// back with the rest of tx.
	EnqueueTx(ctx context.Context, tx *sql.Tx, msg *Message, endpoints []*Endpoint) error
}

// Outgoing is a message and the endpoints it goes to, for BulkQueue.
type Outgoing struct {
	Message   *Message
	Endpoints []*Endpoint
}

// BulkQueue is a Queue that enqueues many messages at once, all or none
// (a few statements for all of them on SQL): Dispatcher.SendMany uses
// it. memstore and sqlstore implement it.
type BulkQueue interface {
	// EnqueueMany is Enqueue for every message of out, all or none.
	EnqueueMany(ctx context.Context, out []Outgoing) error
}

// BulkTxQueue is a BulkQueue that enqueues in the caller's transaction:
// Dispatcher.SendManyTx uses it. sqlstore implements it.
type BulkTxQueue interface {
	// EnqueueManyTx is EnqueueMany in tx.
	EnqueueManyTx(ctx context.Context, tx *sql.Tx, out []Outgoing) error
}

// WakeQueue is a Queue that tells workers in every process of new work
// as soon as it is committed, so that they need not poll for it.
// Listen calls wake once it listens, then at every commit that queued
// deliveries, until ctx ends (nil) or it fails (an error; Run listens
// again after a pause). It returns ErrUnsupported where the queue's
// database cannot. sqlstore implements it on PostgreSQL with
// LISTEN/NOTIFY, one connection per listening process.
type WakeQueue interface {
	// Listen calls wake whenever deliveries were enqueued, as above.
	Listen(ctx context.Context, wake func()) error
}

// TxEndpointStore is an EndpointStore that reads endpoints inside the
// caller's transaction. SendTx uses it when the store has it, so that a
// transaction holding one of the pool's connections never waits for a
// second one: under load, with every connection held that way, it would
// wait for good. sqlstore implements it.
type TxEndpointStore interface {
	// ListEndpointsTx is ListEndpoints read through tx.
	ListEndpointsTx(ctx context.Context, tx *sql.Tx, tenantID string) ([]*Endpoint, error)
}

// QueueStats is a queue's backlog at one moment.
type QueueStats struct {
	Scheduled int // pending, due later (waiting out a retry delay)
	Due       int // pending and due: waiting for a worker, or in flight
	Dead      int // out of attempts, kept for review and retry
	// OldestDue is when the longest-waiting due delivery became due; zero
	// when none is due. now minus OldestDue is the queue's age: how far
	// delivery lags behind.
	OldestDue time.Time
}

// StatsQueue is a Queue that reports its backlog, for the queue depth and
// age metrics and for readiness checks. memstore and sqlstore implement it.
type StatsQueue interface {
	// Stats counts the deliveries due, scheduled and dead at now, and
	// the oldest due one's time.
	Stats(ctx context.Context, now time.Time) (QueueStats, error)
}

// Completion is one delivery's outcome, for BatchQueue.
type Completion struct {
	Delivery *Delivery
	Attempt  Attempt
}

// BatchQueue is a Queue that can record several completions at once
// (one transaction and commit for all). Each completion succeeds or
// fails on its own, with Complete's errors. sqlstore implements it.
// Dispatcher.Run records a BatchQueue's completions in the background,
// many a batch, freeing each worker as soon as its attempt ends.
type BatchQueue interface {
	// CompleteBatch is Complete for each completion, returning each one's
	// error in order.
	CompleteBatch(ctx context.Context, cs []Completion) []error
}

// MinRateLimit is the least rate limit an endpoint may have, in
// deliveries per second: one every 1,000 seconds.
const MinRateLimit = 0.001

// RateLimiter spaces the deliveries to each rate-limited endpoint
// (Endpoint.RateLimit) across every worker process that uses it, so an
// endpoint gets its limit however many processes deliver from the queue.
// Without one (WorkerOptions.RateLimiter), each process spaces its own
// deliveries. sqlstore implements it.
type RateLimiter interface {
	// Reserve books the endpoint's next free slot at perSecond, if that
	// slot begins within maxWait of now, and returns how long after now
	// it begins. Otherwise it books nothing and returns ok false and how
	// long after now the endpoint's booked slots run out.
	Reserve(ctx context.Context, endpointID string, perSecond float64, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool, err error)
}
