package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// ResendQueue is a Queue that lists the messages it keeps and delivers
// a kept message again: Dispatcher.Resend and Replay use it. memstore
// and sqlstore implement it.
type ResendQueue interface {
	// Messages lists the tenant's messages that match f, by CreatedAt
	// then ID.
	Messages(ctx context.Context, tenantID string, f MessageFilter) ([]*Message, error)
	// Redeliver queues a new pending delivery of the tenant's message to
	// each endpoint, due at, and returns them. The message's earlier
	// deliveries stay as they are. ErrNotFound if the queue does not
	// keep the message; ErrConflict if retention removed its payload.
	Redeliver(ctx context.Context, tenantID, messageID string, endpoints []*Endpoint, at time.Time) ([]*Delivery, error)
}

// MessageFilter selects messages; zero fields match anything.
type MessageFilter struct {
	EventType string
	Since     time.Time // created at or after
	Until     time.Time // created before
	// After is keyset pagination: the messages after this one, by
	// (CreatedAt, ID). Pass the last message of the previous page.
	After *Message
	Limit int // default and maximum 1000
}

// EffectiveLimit is the page size a queue applies.
func (f MessageFilter) EffectiveLimit() int {
	return DeliveryFilter{Limit: f.Limit}.EffectiveLimit()
}

// Validate reports a filter no stored text can match: event type and
// after must be valid UTF-8 without NUL, as a SQL queue compares them.
func (f MessageFilter) Validate() error {
	if !textfield.Storable(f.EventType) || f.After != nil && !textfield.Storable(f.After.ID) {
		return fmt.Errorf("%w: message filter: event type and after must be valid UTF-8 without NUL", ErrInvalid)
	}
	return nil
}

// Follows reports whether m comes after f.After in the listing order.
func (f MessageFilter) Follows(m *Message) bool {
	if f.After == nil {
		return true
	}
	if c := m.CreatedAt.Compare(f.After.CreatedAt); c != 0 {
		return c > 0
	}
	return m.ID > f.After.ID
}

// Matches reports whether the tenant's message m passes f, pagination
// included: what a queue that filters in memory applies.
func (f MessageFilter) Matches(m *Message) bool {
	return (f.EventType == "" || m.EventType == f.EventType) &&
		(f.Since.IsZero() || !m.CreatedAt.Before(f.Since)) &&
		(f.Until.IsZero() || m.CreatedAt.Before(f.Until)) && f.Follows(m)
}

// Resend queues the tenant's message again for one of its endpoints,
// whatever became of the message's earlier deliveries (succeeded, dead,
// or never made because the endpoint did not exist yet). It returns the
// new delivery. The endpoint must be enabled and subscribed to the
// message's event type.
func (d *Dispatcher) Resend(ctx context.Context, tenantID, messageID, endpointID string) (*Delivery, error) {
	rq, e, err := d.resendTarget(ctx, tenantID, endpointID)
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	msg, err := d.keptMessage(ctx, tenantID, messageID)
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	if !e.Takes(msg) {
		return nil, fmt.Errorf("resend: %w: endpoint %s does not take %s events on the message's channels", ErrInvalid, e.ID, msg.EventType)
	}
	dels, err := rq.Redeliver(ctx, tenantID, messageID, []*Endpoint{e}, d.opts.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	d.Wake()
	return dels[0], nil
}

// ReplayOptions choose what Replay sends again.
type ReplayOptions struct {
	// Since and Until bound the messages' creation time: [Since, Until).
	// Until zero means now.
	Since, Until time.Time
	// OnlyMissing skips the messages the endpoint already has a delivery
	// of, in any state: what an endpoint missed while it was disabled or
	// before it existed. Otherwise every message is sent again.
	OnlyMissing bool
}

// Replay sends the tenant's messages of a time window again to one of
// its endpoints, those it takes (event types, channels), page by page with
// no cap, and returns how many deliveries it queued. The endpoint must
// be enabled. Only messages the queue kept are replayed: a message that
// went to no endpoint when it was sent was not kept, and retention
// removes the others in time.
func (d *Dispatcher) Replay(ctx context.Context, tenantID, endpointID string, opts ReplayOptions) (int, error) {
	rq, e, err := d.resendTarget(ctx, tenantID, endpointID)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	now := d.opts.Now().UTC()
	until := opts.Until
	if until.IsZero() {
		until = now
	}
	n := 0
	f := MessageFilter{Since: opts.Since, Until: until}
	for {
		page, err := rq.Messages(ctx, tenantID, f)
		if err != nil {
			return n, fmt.Errorf("replay: %w", err)
		}
		if len(page) == 0 {
			break
		}
		f.After = page[len(page)-1]
		for _, msg := range page {
			if !e.Takes(msg) || msg.PayloadExpunged() {
				continue
			}
			if opts.OnlyMissing {
				has, err := d.queue.Deliveries(ctx, tenantID, DeliveryFilter{MessageID: msg.ID, EndpointID: e.ID, Limit: 1})
				if err != nil {
					return n, fmt.Errorf("replay: %w", err)
				}
				if len(has) > 0 {
					continue
				}
			}
			_, err := rq.Redeliver(ctx, tenantID, msg.ID, []*Endpoint{e}, now)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
				continue // erased or expired since it was listed
			}
			if err != nil {
				return n, fmt.Errorf("replay message %s: %w", msg.ID, err)
			}
			n++
		}
	}
	if n > 0 {
		d.Wake()
	}
	return n, nil
}

// resendTarget returns the queue as a ResendQueue and the tenant's
// endpoint, which must be enabled.
func (d *Dispatcher) resendTarget(ctx context.Context, tenantID, endpointID string) (ResendQueue, *Endpoint, error) {
	rq, ok := d.queue.(ResendQueue)
	if !ok {
		return nil, nil, ErrUnsupported
	}
	e, err := d.endpoints.GetEndpoint(ctx, tenantID, endpointID)
	if err != nil {
		return nil, nil, err
	}
	if e.DisabledReason != "" {
		return nil, nil, fmt.Errorf("endpoint %s is disabled (%s): %w", e.ID, e.DisabledReason, ErrConflict)
	}
	return rq, e, nil
}

// keptMessage finds one of the tenant's messages by ID, through its
// deliveries: a queue keeps a message as long as one of them.
func (d *Dispatcher) keptMessage(ctx context.Context, tenantID, messageID string) (*Message, error) {
	dels, err := d.queue.Deliveries(ctx, tenantID, DeliveryFilter{MessageID: messageID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(dels) == 0 {
		return nil, fmt.Errorf("message %s: %w", messageID, ErrNotFound)
	}
	return dels[0].Message, nil
}

// Messages lists the tenant's kept messages that match f, by creation
// time, a page at a time. The queue must implement ResendQueue.
func (d *Dispatcher) Messages(ctx context.Context, tenantID string, f MessageFilter) ([]*Message, error) {
	rq, ok := d.queue.(ResendQueue)
	if !ok {
		return nil, fmt.Errorf("list messages: %w", ErrUnsupported)
	}
	return rq.Messages(ctx, tenantID, f)
}

// Deliveries lists the tenant's deliveries that match f, a page at a
// time (DeliveryFilter.AfterID).
func (d *Dispatcher) Deliveries(ctx context.Context, tenantID string, f DeliveryFilter) ([]*Delivery, error) {
	return d.queue.Deliveries(ctx, tenantID, f)
}

// Attempts returns the attempt log of the tenant's delivery, oldest
// first.
func (d *Dispatcher) Attempts(ctx context.Context, tenantID, deliveryID string) ([]Attempt, error) {
	return d.queue.Attempts(ctx, tenantID, deliveryID)
}
