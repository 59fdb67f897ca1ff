package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/webhook"
	webhookstore "github.com/saaskit/saaskit/webhook/sqlstore"
)

// hooks lets each tenant register webhook endpoints, receives the events
// the service emits, and shows a receiver: POST /webhooks/inbound/{tenant}
// verifies what the demo itself sends there, and GET /api/webhooks/inbound
// shows the tenant, with its key, what arrived.
type hooks struct {
	d       *webhook.Dispatcher
	db      *sql.DB
	bus     *bus // events for other products, written beside the webhooks
	queue   webhook.Queue
	limiter webhook.RateLimiter
	seen    webhook.SeenStore
	logger  *slog.Logger

	mu       sync.Mutex
	received map[string][]json.RawMessage // tenant → events received, in order
}

// eventTypes is the catalogue of the user events the demo sends, as
// {"type": ..., "data": ...}; the dispatcher enforces it, with the
// domain events (domainEventTypes).
var eventTypes = []webhook.EventType{
	{Name: "user.created", Description: "A user was created. data is the user.", Schema: json.RawMessage(`{
		"type": "object", "required": ["type", "data"],
		"properties": {"type": {"const": "user.created"}, "data": {"type": "object", "required": ["id", "email_address"]}}}`)},
	{Name: "user.erased", Description: "A user's personal data was erased. data.id is the user's ID.", Schema: json.RawMessage(`{
		"type": "object", "required": ["type", "data"],
		"properties": {"type": {"const": "user.erased"}, "data": {"type": "object", "required": ["id"]}}}`)},
}

// withVersions gives user.created the schema of its payload at each API
// version, as endpoints pinned to it receive it (package versioning
// derives them from the head's and the changes).
func withVersions(types []webhook.EventType, api *versioning.API) []webhook.EventType {
	out := slices.Clone(types)
	for i, et := range out {
		if et.Name != "user.created" {
			continue
		}
		out[i].Versions = map[string]json.RawMessage{}
		for _, v := range api.Versions() {
			if s, err := json.Marshal(api.PayloadSchema(v, payloadType(et.Name))); err == nil {
				out[i].Versions[v] = s
			}
		}
	}
	return out
}

func newHooks(ctx context.Context, st *webhookstore.Store, shared sharedState, keys *skcrypto.Keyring, api *versioning.API, logger *slog.Logger) (*hooks, error) {
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	catalogue, err := webhook.NewCatalogue(withVersions(append(slices.Clone(eventTypes), domainEventTypes...), api)...)
	if err != nil {
		return nil, err
	}
	d, err := webhook.NewDispatcher(st, st, func(tenant string) webhook.AEAD {
		return keys.AEAD(skcrypto.Scope{Tenant: tenant, Subject: "webhook-secrets"})
	}, webhook.DispatcherOptions{
		AllowCIDRs: demoLoopback,
		Catalogue:  catalogue,
		// Each endpoint receives events in the API version it is pinned to.
		Render: func(_ context.Context, e *webhook.Endpoint, msg *webhook.Message) ([]byte, error) {
			return api.RenderPayload(e.APIVersion, payloadType(msg.EventType), msg.Payload)
		},
	})
	if err != nil {
		return nil, err
	}
	return &hooks{d: d, queue: st, limiter: shared.endpointLimits, seen: shared.seen, logger: logger, received: map[string][]json.RawMessage{}}, nil
}

// emit sends an event about a resource to the tenant's endpoints and,
// through the events outbox, to other products, inside tx when one is
// given, else in a transaction of its own: the webhook message and the
// event commit together, and with the change when tx makes it. subject
// is the person the payload is about, if it names one (erasure deletes
// the event with them); resource is the ID of what the event is about,
// its ordering key. Call sent after tx commits.
func (h *hooks) emit(ctx context.Context, tx *sql.Tx, tenantID, eventType, subject, resource string, data any) error {
	if tx == nil {
		tx, err := h.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if err := h.emit(ctx, tx, tenantID, eventType, subject, resource, data); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		h.sent()
		return nil
	}
	payload, err := json.Marshal(map[string]any{"type": eventType, "data": data})
	if err != nil {
		return err
	}
	// Events about one resource keep their order on ordered endpoints,
	// and events about others are not held behind them.
	msg := &webhook.Message{TenantID: tenantID, EventType: eventType, Subject: subject, OrderingKey: resource, Payload: payload}
	if _, err := h.d.SendTx(ctx, tx, msg); err != nil {
		return err
	}
	// A resource's events are one aggregate (user/<id>, domain/<name>),
	// handled in order, except user.erased: an erasure purges the user's
	// earlier events from the stream, and a consumer must not wait for
	// them. It carries no personal data, so no subject either.
	aggregate := payloadType(eventType) + "/" + resource
	if eventType == "user.erased" {
		aggregate = ""
	}
	return h.bus.append(ctx, tx, &events.Event{TenantID: tenantID, Type: eventType, AggregateKey: aggregate, SubjectKey: subject, Payload: payload})
}

// sent wakes the webhook workers and the events relay once events
// committed: they go out now, not at the next poll.
func (h *hooks) sent() {
	h.d.Wake()
	h.bus.notify()
}

// demoLoopback lets endpoints name, and deliveries reach, loopback, so
// the demo can call its own receiver; the demo says so at start. A real
// service keeps the default, which refuses private addresses.
var demoLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// run delivers until ctx ends. Endpoints' rate limits are kept in the
// database (or Redis), so replicas sharing it keep them together. Beside it,
// retention deletes finished deliveries after 30 days (the default), so
// the queue's tables stay the same size however long the demo runs.
func (h *hooks) run(ctx context.Context) {
	retained := make(chan struct{})
	go func() { defer close(retained); _ = h.d.RunRetention(ctx, webhook.Retention{Logger: h.logger}) }()
	defer func() { <-retained }()
	client := webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: demoLoopback})
	_ = h.d.Run(ctx, webhook.WorkerOptions{Client: client, Poll: 200 * time.Millisecond, Logger: h.logger, RateLimiter: h.limiter})
}

// createEndpoint handles POST /api/webhooks/endpoints {url, event_types}.
// The endpoint is pinned to the API version of the request that created
// it, as Stripe does. The signing secret is in the response, once.
func (h *hooks) createEndpoint(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	var req struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if !readJSON(w, r, 8<<10, &req, "{url, event_types}") {
		return
	}
	e, secret, err := h.d.CreateEndpoint(r.Context(), t.ID, webhook.EndpointSpec{
		URL: req.URL, EventTypes: req.EventTypes, APIVersion: versioning.FromContext(r.Context()),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": e.ID, "url": e.URL, "api_version": e.APIVersion, "secret": secret})
}

// eventTypes handles GET /api/webhooks/event-types: the catalogue, for
// endpoints' owners choosing what to subscribe to.
func (h *hooks) eventTypes(w http.ResponseWriter, _ *http.Request) {
	type eventType struct {
		Name        string                     `json:"name"`
		Description string                     `json:"description"`
		State       string                     `json:"state"`
		Schema      json.RawMessage            `json:"schema,omitempty"`
		Versions    map[string]json.RawMessage `json:"versions,omitempty"` // the payload as endpoints pinned to each API version get it
	}
	out := []eventType{}
	for _, t := range h.d.EventTypes() {
		out = append(out, eventType{t.Name, t.Description, string(t.State), t.Schema, t.Versions})
	}
	writeJSON(w, http.StatusOK, out)
}

// listDeliveries handles GET /api/webhooks/deliveries?state=dead.
func (h *hooks) listDeliveries(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	state := webhook.DeliveryState(r.URL.Query().Get("state"))
	switch state {
	case "", webhook.StatePending, webhook.StateSucceeded, webhook.StateDead:
	default:
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "state must be pending, succeeded or dead"})
		return
	}
	ds, err := h.queue.Deliveries(r.Context(), t.ID, webhook.DeliveryFilter{
		State: state, AfterID: r.URL.Query().Get("after"), Limit: 100,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type delivery struct {
		ID        string `json:"id"`
		MessageID string `json:"message_id"`
		Endpoint  string `json:"endpoint_id"`
		EventType string `json:"event_type"`
		State     string `json:"state"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error,omitempty"`
	}
	out := []delivery{}
	for _, d := range ds {
		out = append(out, delivery{d.ID, d.Message.ID, d.EndpointID, d.Message.EventType, string(d.State), d.Attempts, d.LastError})
	}
	writeJSON(w, http.StatusOK, out)
}

// retry handles POST /api/webhooks/deliveries/{id}/retry for a dead letter.
func (h *hooks) retry(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	if err := h.d.RetryDead(r.Context(), t.ID, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// repoint sends the tenant's endpoint to url and enables it again: how
// an operator repairs an endpoint that was disabled, before retrying its
// dead letters. The dispatcher validates url as it does at creation.
func (h *hooks) repoint(ctx context.Context, tenantID, endpointID, url string) error {
	e, err := h.d.GetEndpoint(ctx, tenantID, endpointID)
	if err != nil {
		return err
	}
	if _, err := h.d.UpdateEndpoint(ctx, tenantID, endpointID, webhook.EndpointSpec{
		URL: url, APIVersion: e.APIVersion, EventTypes: e.EventTypes, RateLimit: e.RateLimit, Ordered: e.Ordered, Metadata: e.Metadata,
		Headers: e.Headers, // and, with Auth unset, its authentication
	}); err != nil {
		return err
	}
	return h.d.EnableEndpoint(ctx, tenantID, endpointID)
}

// gone handles POST /webhooks/gone: a receiver that has gone away. It
// answers 410 Gone, so the worker dead-letters the delivery and disables
// the endpoint, as it would for a customer who removed theirs; the
// console then repoints the endpoint and retries the dead letter.
func (h *hooks) gone(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, problem.Details{Status: http.StatusGone, Detail: "this receiver has gone away"})
}

// inbound handles POST /webhooks/inbound/{tenant}: a receiver that
// verifies signatures with the tenant's endpoint secrets, as the owner of
// the endpoint would with the secret they were shown, and refuses a
// message it accepted before, through any replica (the replay store is
// shared).
func (h *hooks) inbound(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	v, err := h.d.Verifier(r.Context(), tenant, webhook.VerifyOptions{})
	if err != nil {
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: "no endpoints for this tenant"})
		return
	}
	webhook.Receiver(v, webhook.ReceiverOptions{Seen: h.seen, Logger: h.logger})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var event struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(webhook.Body(r.Context()), &event)
		h.mu.Lock()
		h.received[tenant] = append(h.received[tenant], json.RawMessage(webhook.Body(r.Context())))
		h.mu.Unlock()
		h.logger.InfoContext(r.Context(), "webhook received", slog.String(tenancy.AttrKey, tenant), slog.String("event", event.Type))
		w.WriteHeader(http.StatusNoContent)
	})).ServeHTTP(w, r)
}

// inboundLog handles GET /api/webhooks/inbound: the events that arrived
// for the caller's tenant, as sent.
func (h *hooks) inboundLog(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	h.mu.Lock()
	got := append([]json.RawMessage{}, h.received[t.ID]...)
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, got)
}

func (h *hooks) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, webhook.ErrInvalid), errors.Is(err, webhook.ErrInvalidURL):
		status = http.StatusBadRequest
	case errors.Is(err, webhook.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, webhook.ErrConflict):
		status = http.StatusConflict
	}
	if status == http.StatusInternalServerError {
		h.logger.ErrorContext(r.Context(), "webhook request failed", slog.String("error", err.Error()))
		problem.Write(w, problem.Details{Status: status, Detail: "internal error"})
		return
	}
	problem.Write(w, problem.Details{Status: status, Detail: err.Error()})
}
