package events

import (
	"context"
	"time"
)

// Store is an outbox: it keeps events from the moment they are written
// until a relay has seen the broker accept them. Adapters: memstore,
// sqlstore (which also writes in the application's *sql.Tx).
type Store interface {
	// Append prepares and writes events in order, assigning each its
	// AggregateSeq.
	Append(ctx context.Context, evs ...*Event) error
	// Claim leases, until now+leaseFor, a lane with unrelayed events
	// whose lease is free (the one idle longest) and returns up to max
	// of its oldest unrelayed events, in the order they were written. It
	// returns nil, nil when no lane has work.
	Claim(ctx context.Context, now time.Time, leaseFor time.Duration, max int) (*Batch, error)
	// Complete marks the events with the given IDs of b relayed and
	// releases b's lease at now, if b still holds it. Marking is
	// idempotent: an event the broker accepted stays relayed whoever
	// holds the lane.
	Complete(ctx context.Context, b *Batch, relayed []string, now time.Time) error
}

// Batch is a lane's leased events.
type Batch struct {
	Lane   int
	Token  string // the lease's token; secret to the relay
	Events []*Event
	// Cursor is the store's own note of where the batch lies in its
	// lane, for Complete; a relay hands it back unchanged.
	Cursor any
}

// Publisher sends events to a broker.
type Publisher interface {
	// Publish sends evs, which belong to distinct aggregates, at once
	// and returns one error per event: nil once the broker has durably
	// accepted it (also as a duplicate of an earlier publish with the
	// same ID).
	Publish(ctx context.Context, evs []*Event) []error
}

// Outcome is what an Inbox did with an event.
type Outcome int

const (
	// Handled: the handler ran and its effects committed with the record.
	Handled Outcome = iota + 1
	// Duplicate: the consumer had handled the event before; nothing ran.
	Duplicate
	// Early: an earlier event of the aggregate is not handled yet;
	// nothing ran, and the event must come again later.
	Early
)

func (o Outcome) String() string {
	switch o {
	case Handled:
		return "handled"
	case Duplicate:
		return "duplicate"
	case Early:
		return "early"
	}
	return "Outcome(?)"
}

// Handler handles one event. When the Inbox is SQL, Tx(ctx) is the
// transaction the handler's writes must use: they commit together with
// the record that the event was handled, or not at all.
type Handler func(ctx context.Context, e *Event) error

// Inbox is an idempotency store: per consumer and aggregate it records
// the last event handled, so that a redelivered event runs its handler
// once per consumer and each aggregate's events run in order.
type Inbox interface {
	// Process runs h for e unless consumer handled e already (Duplicate)
	// or has not yet handled the event before it in its aggregate
	// (Early). When h fails nothing is recorded and its error is
	// returned.
	//
	// A nil h records e as handled without running anything, and
	// without waiting for the events before it: those not handled yet
	// count as handled too (Handled, or Duplicate when e was handled
	// already). A consumer records so a dead-lettered event, and the
	// position before an event whose predecessors are gone from the
	// broker (purged, say).
	Process(ctx context.Context, consumer string, e *Event, h Handler) (Outcome, error)
}

// InboxKey returns the aggregate and position an Inbox records e
// under: its AggregateKey and AggregateSeq, or, for an event without a
// sequence (not written through an outbox), an aggregate of its own
// named after its ID, at position 1.
func InboxKey(e *Event) (aggregate string, seq int64) {
	if e.AggregateSeq <= 0 {
		return "id:" + e.ID, 1
	}
	return e.AggregateKey, e.AggregateSeq
}
