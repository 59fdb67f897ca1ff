package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Operational event types: Event.Type, and the event type of the
// messages DispatcherOptions.OperatorTenant receives. The names follow
// Svix's operational webhooks where Svix has the event.
const (
	EventEndpointCreated   = "endpoint.created"
	EventEndpointUpdated   = "endpoint.updated"
	EventEndpointDeleted   = "endpoint.deleted"
	EventEndpointDisabled  = "endpoint.disabled" // by hand, on 410 Gone, or failing for DisableAfter
	EventEndpointEnabled   = "endpoint.enabled"
	EventSecretRotated     = "endpoint.secret_rotated"
	EventEndpointFailing   = "endpoint.failing"          // a run of failed attempts began
	EventEndpointRecovered = "endpoint.recovered"        // an attempt succeeded after a run of failures
	EventAttemptExhausted  = "message.attempt.exhausted" // a delivery died after its last attempt
)

// Event is an operational event: a change to an endpoint, or a turn in
// its deliveries. As JSON it is the payload of the operator's webhook.
type Event struct {
	Type       string    `json:"type"`
	TenantID   string    `json:"tenant_id"`
	EndpointID string    `json:"endpoint_id"`
	MessageID  string    `json:"message_id,omitempty"`  // message.attempt.exhausted
	DeliveryID string    `json:"delivery_id,omitempty"` // message.attempt.exhausted
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// emit tells DispatcherOptions.OnEvent of ev and sends it to the
// operator tenant's endpoints, as a message of type ev.Type. An event
// about the operator tenant's own endpoints is not sent, or a failing
// operator endpoint would feed itself. A send that fails is logged: the
// change the event reports has already happened.
func (d *Dispatcher) emit(ctx context.Context, ev Event) {
	if d.opts.OnEvent != nil {
		d.opts.OnEvent(ev)
	}
	op := d.opts.OperatorTenant
	if op == "" || ev.TenantID == op {
		return
	}
	payload, err := json.Marshal(ev)
	if err == nil {
		msg := &Message{ID: ev.messageID(), TenantID: op, EventType: ev.Type, Payload: payload, CreatedAt: ev.At}
		_, err = d.Send(ctx, msg)
	}
	if err != nil && !errors.Is(err, ErrConflict) { // ErrConflict: sent before, by a process that crashed after
		d.logger().WarnContext(ctx, "webhook operational event not sent", slog.String("event.type", ev.Type),
			slog.String(tenantAttr, ev.TenantID), slog.String("endpoint.id", ev.EndpointID), slog.String("error", err.Error()))
	}
}

// messageID is the ID of the operator's message for ev: derived from
// the delivery for an exhausted one, so a process that records the same
// death again (after a crash) sends it once; random otherwise.
func (ev Event) messageID() string {
	if ev.DeliveryID != "" {
		return "evt_" + strings.ReplaceAll(ev.Type, ".", "_") + "_" + ev.DeliveryID
	}
	return newID("evt_")
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.opts.Logger != nil {
		return d.opts.Logger
	}
	return slog.Default()
}
