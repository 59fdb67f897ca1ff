package webhookapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/webhook"
)

// endpointJSON is an endpoint as the API shows it: never its secrets or
// authentication, only whether it has some.
type endpointJSON struct {
	ID             string            `json:"id"`
	URL            string            `json:"url"`
	EventTypes     []string          `json:"event_types"`
	Channels       []string          `json:"channels"`
	RateLimit      float64           `json:"rate_limit"`
	Ordered        bool              `json:"ordered"`
	APIVersion     string            `json:"api_version"`
	Metadata       map[string]string `json:"metadata"`
	Headers        map[string]string `json:"headers"`
	HasAuth        bool              `json:"has_auth"`
	DisabledReason string            `json:"disabled_reason"`
	FailingSince   *time.Time        `json:"failing_since"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	Version        int64             `json:"version"`
}

func endpointOf(e *webhook.Endpoint) endpointJSON {
	out := endpointJSON{
		ID: e.ID, URL: e.URL, EventTypes: orEmpty(e.EventTypes), Channels: orEmpty(e.Channels), RateLimit: e.RateLimit,
		Ordered: e.Ordered, APIVersion: e.APIVersion, Metadata: orEmptyMap(e.Metadata), Headers: orEmptyMap(e.Headers),
		HasAuth: len(e.Auth) > 0, DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Version: e.Version,
	}
	if !e.FailingSince.IsZero() {
		out.FailingSince = &e.FailingSince
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// endpointInput is the body of POST and PUT /endpoints.
type endpointInput struct {
	URL        string                `json:"url"`
	EventTypes []string              `json:"event_types"`
	Channels   []string              `json:"channels"`
	RateLimit  float64               `json:"rate_limit"`
	Ordered    bool                  `json:"ordered"`
	APIVersion string                `json:"api_version"`
	Metadata   map[string]string     `json:"metadata"`
	Headers    map[string]string     `json:"headers"`
	Auth       *webhook.EndpointAuth `json:"auth"`
	Signature  string                `json:"signature"` // POST only: "v1" or "v1a"
}

func (in endpointInput) spec() webhook.EndpointSpec {
	return webhook.EndpointSpec{URL: in.URL, EventTypes: in.EventTypes, Channels: in.Channels, RateLimit: in.RateLimit, Ordered: in.Ordered,
		APIVersion: in.APIVersion, Metadata: in.Metadata, Headers: in.Headers, Auth: in.Auth, Signature: in.Signature}
}

func (h *Handler) eventTypes(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	type eventType struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		State       string `json:"state"`
	}
	out := []eventType{}
	for _, t := range h.d.EventTypes() {
		state := string(t.State)
		if state == "" {
			state = string(webhook.EventTypeActive)
		}
		out = append(out, eventType{t.Name, t.Description, state})
	}
	return http.StatusOK, page[eventType]{Data: out}, nil
}

func (h *Handler) listEndpoints(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	limit, after, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	all, err := h.d.ListEndpoints(ctx, tenant) // oldest first, by (CreatedAt, ID)
	if err != nil {
		return 0, nil, err
	}
	start := 0
	if after != nil {
		start = slices.IndexFunc(all, func(e *webhook.Endpoint) bool {
			return e.CreatedAt.After(after.At) || e.CreatedAt.Equal(after.At) && e.ID > after.ID
		})
		if start < 0 {
			start = len(all)
		}
	}
	out := page[endpointJSON]{Data: []endpointJSON{}}
	for _, e := range all[start:min(len(all), start+limit)] {
		out.Data = append(out.Data, endpointOf(e))
	}
	if start+limit < len(all) {
		last := all[start+limit-1]
		out.NextCursor = encodeCursor(cursor{ID: last.ID, At: last.CreatedAt})
	}
	return http.StatusOK, out, nil
}

func (h *Handler) createEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in endpointInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	e, secret, err := h.d.CreateEndpoint(ctx, tenant, in.spec())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, struct {
		Endpoint endpointJSON `json:"endpoint"`
		Secret   string       `json:"secret"`
	}{endpointOf(e), secret}, nil
}

func (h *Handler) getEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	e, err := h.d.GetEndpoint(ctx, tenant, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, endpointOf(e), nil
}

func (h *Handler) updateEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in endpointInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Signature != "" {
		return 0, nil, badf("signature is chosen at creation; rotate-secret keeps it")
	}
	e, err := h.d.UpdateEndpoint(ctx, tenant, r.PathValue("id"), in.spec())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, endpointOf(e), nil
}

func (h *Handler) deleteEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.d.DeleteEndpoint(ctx, tenant, r.PathValue("id"))
}

func (h *Handler) disableEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.d.DisableEndpoint(ctx, tenant, r.PathValue("id"), in.Reason)
}

func (h *Handler) enableEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.d.EnableEndpoint(ctx, tenant, r.PathValue("id"))
}

func (h *Handler) rotateSecret(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in struct {
		OverlapSeconds int64 `json:"overlap_seconds"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.OverlapSeconds < 0 || in.OverlapSeconds > 30*24*3600 {
		return 0, nil, badf("overlap_seconds must be from 0 (the default overlap) to 2592000 (30 days)")
	}
	secret, err := h.d.RotateSecret(ctx, tenant, r.PathValue("id"), time.Duration(in.OverlapSeconds)*time.Second)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Secret string `json:"secret"`
	}{secret}, nil
}

// window is the body of recover and replay: [since, until), until now
// when absent.
type window struct {
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	OnlyMissing bool      `json:"only_missing"` // replay only
}

func (h *Handler) recoverEndpoint(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in window
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.OnlyMissing {
		return 0, nil, badf("only_missing is for replay")
	}
	id := r.PathValue("id")
	if _, err := h.d.GetEndpoint(ctx, tenant, id); err != nil {
		return 0, nil, err
	}
	n, err := h.d.Recover(ctx, tenant, id, in.Since, in.Until)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Requeued int `json:"requeued"`
	}{n}, nil
}

func (h *Handler) replay(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in window
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	n, err := h.d.Replay(ctx, tenant, r.PathValue("id"), webhook.ReplayOptions{Since: in.Since, Until: in.Until, OnlyMissing: in.OnlyMissing})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Queued int `json:"queued"`
	}{n}, nil
}

// messageJSON is a message as the API shows it.
type messageJSON struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"` // null once retention removed it
	Channels  []string        `json:"channels"`
	// OrderingKey is the sequence the message keeps its order in on
	// ordered endpoints; "" for none.
	OrderingKey string    `json:"ordering_key"`
	CreatedAt   time.Time `json:"created_at"`
}

func messageOf(m *webhook.Message) messageJSON {
	payload := m.Payload
	if m.PayloadExpunged() {
		payload = json.RawMessage("null")
	}
	return messageJSON{ID: m.ID, EventType: m.EventType, Payload: payload, Channels: orEmpty(m.Channels), OrderingKey: m.OrderingKey, CreatedAt: m.CreatedAt}
}

func (h *Handler) listMessages(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	limit, after, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	f := webhook.MessageFilter{EventType: r.URL.Query().Get("event_type"), Limit: limit + 1}
	if f.Since, err = timeOf(r, "since"); err != nil {
		return 0, nil, err
	}
	if f.Until, err = timeOf(r, "until"); err != nil {
		return 0, nil, err
	}
	if after != nil {
		f.After = &webhook.Message{ID: after.ID, CreatedAt: after.At}
	}
	msgs, err := h.d.Messages(ctx, tenant, f)
	if err != nil {
		return 0, nil, err
	}
	out := page[messageJSON]{Data: []messageJSON{}}
	for _, m := range msgs[:min(len(msgs), limit)] {
		out.Data = append(out.Data, messageOf(m))
	}
	if len(msgs) > limit {
		last := msgs[limit-1]
		out.NextCursor = encodeCursor(cursor{ID: last.ID, At: last.CreatedAt})
	}
	return http.StatusOK, out, nil
}

func (h *Handler) resend(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	var in struct {
		EndpointID string `json:"endpoint_id"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	d, err := h.d.Resend(ctx, tenant, r.PathValue("id"), in.EndpointID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, deliveryOf(d), nil
}

// deliveryJSON is a delivery as the API shows it.
type deliveryJSON struct {
	ID         string    `json:"id"`
	MessageID  string    `json:"message_id"`
	EventType  string    `json:"event_type"`
	EndpointID string    `json:"endpoint_id"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at"`
	LastError  string    `json:"last_error"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func deliveryOf(d *webhook.Delivery) deliveryJSON {
	return deliveryJSON{ID: d.ID, MessageID: d.Message.ID, EventType: d.Message.EventType, EndpointID: d.EndpointID, State: string(d.State),
		Attempts: d.Attempts, NextAt: d.NextAt, LastError: d.LastError, UpdatedAt: d.UpdatedAt}
}

func (h *Handler) listDeliveries(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	limit, after, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	f := webhook.DeliveryFilter{EndpointID: q.Get("endpoint_id"), MessageID: q.Get("message_id"), Limit: limit + 1}
	switch state := webhook.DeliveryState(q.Get("state")); state {
	case "", webhook.StatePending, webhook.StateSucceeded, webhook.StateDead:
		f.State = state
	default:
		return 0, nil, badf("state must be pending, succeeded or dead")
	}
	if after != nil {
		f.AfterID = after.ID
	}
	ds, err := h.d.Deliveries(ctx, tenant, f)
	if err != nil {
		return 0, nil, err
	}
	out := page[deliveryJSON]{Data: []deliveryJSON{}}
	for _, d := range ds[:min(len(ds), limit)] {
		out.Data = append(out.Data, deliveryOf(d))
	}
	if len(ds) > limit {
		out.NextCursor = encodeCursor(cursor{ID: ds[limit-1].ID})
	}
	return http.StatusOK, out, nil
}

// attemptJSON is an attempt as the API shows it. The response body is
// text when it is UTF-8, else base64 with response_base64 set.
type attemptJSON struct {
	At             time.Time `json:"at"`
	Status         int       `json:"status"`
	LatencyMS      float64   `json:"latency_ms"`
	Error          string    `json:"error"`
	Response       string    `json:"response"`
	ResponseBase64 bool      `json:"response_base64"`
	// The headers the attempt sent (credentials redacted) and received.
	RequestHeaders  map[string]string `json:"request_headers"`
	ResponseHeaders map[string]string `json:"response_headers"`
}

func (h *Handler) attempts(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	as, err := h.d.Attempts(ctx, tenant, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	out := page[attemptJSON]{Data: []attemptJSON{}}
	for _, a := range as {
		j := attemptJSON{At: a.At, Status: a.Status, LatencyMS: float64(a.Latency) / float64(time.Millisecond), Error: a.Error, Response: string(a.Response),
			RequestHeaders: orEmptyMap(a.RequestHeaders), ResponseHeaders: orEmptyMap(a.ResponseHeaders)}
		if !utf8.Valid(a.Response) {
			j.Response, j.ResponseBase64 = base64.StdEncoding.EncodeToString(a.Response), true
		}
		out.Data = append(out.Data, j)
	}
	return http.StatusOK, out, nil
}

func (h *Handler) retry(ctx context.Context, tenant string, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.d.RetryDead(ctx, tenant, r.PathValue("id"))
}
