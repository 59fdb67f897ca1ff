package webhookportal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/saaskit/saaskit/webhook"
)

// messagesPage is a page of the tenant's kept messages.
type messagesPage struct {
	Messages    []*webhook.Message
	Next        string
	EventType   string
	Since       string
	Until       string
	Types       []webhook.EventType
	FilterTypes bool // whether the catalogue lists types to filter by
}

// messages handles GET /messages?event_type&since&until: the kept
// messages, oldest first, a page at a time.
func (h *Handler) messages(w http.ResponseWriter, r *http.Request, c *caller) {
	limit, after, err := h.pageOf(r)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	q := r.URL.Query()
	p := messagesPage{EventType: q.Get("event_type"), Since: q.Get("since"), Until: q.Get("until"), Types: h.d.EventTypes()}
	p.FilterTypes = len(p.Types) > 0
	f := webhook.MessageFilter{EventType: p.EventType, Limit: limit + 1}
	if f.Since, err = timeOf(p.Since, "since"); err == nil {
		f.Until, err = timeOf(p.Until, "until")
	}
	if err == nil && (!utf8.ValidString(f.EventType) || len(f.EventType) > 128) {
		err = badf("event type must be at most 128 bytes of UTF-8")
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	if after != nil {
		f.After = &webhook.Message{ID: after.ID, CreatedAt: after.At}
	}
	msgs, err := h.d.Messages(r.Context(), c.tenant, f)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	if len(msgs) > limit {
		last := msgs[limit-1]
		msgs, p.Next = msgs[:limit], next(r, cursor{ID: last.ID, At: last.CreatedAt})
	}
	p.Messages = msgs
	h.page(w, r, c, http.StatusOK, "messages.html", "Messages", p)
}

// messagePage is a message with its deliveries and the endpoints it
// can be sent to again.
type messagePage struct {
	Message *webhook.Message
	Payload body
	List    deliveryList
	Targets []*webhook.Endpoint // enabled endpoints that take it
}

// keptMessage finds the caller's message by the path's id, through its
// deliveries (a queue keeps a message as long as one of them).
func (h *Handler) keptMessage(r *http.Request, c *caller) (*webhook.Message, error) {
	ds, err := h.d.Deliveries(r.Context(), c.tenant, webhook.DeliveryFilter{MessageID: r.PathValue("id"), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("message: %w", webhook.ErrNotFound)
	}
	return ds[0].Message, nil
}

// message handles GET /messages/{id}.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, c *caller) {
	m, err := h.keptMessage(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	p := messagePage{Message: m, Payload: bodyOf(m.Payload)}
	if m.PayloadExpunged() {
		p.Payload = body{Note: "removed by retention"}
	}
	p.List, err = h.deliveries(r, c, webhook.DeliveryFilter{MessageID: m.ID})
	var eps []*webhook.Endpoint
	if err == nil {
		eps, err = h.d.ListEndpoints(r.Context(), c.tenant)
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	for _, e := range eps {
		if e.DisabledReason == "" && e.Takes(m) {
			p.Targets = append(p.Targets, e)
		}
	}
	h.page(w, r, c, http.StatusOK, "message.html", "Message", p)
}

// resend handles POST /messages/{id}/resend {endpoint_id}: the message
// goes to the endpoint again, and the browser to the new delivery.
func (h *Handler) resend(w http.ResponseWriter, r *http.Request, c *caller) {
	to := r.PostForm.Get("endpoint_id")
	if to == "" {
		h.failErr(w, r, c, badf("choose an endpoint to send the message to"))
		return
	}
	d, err := h.d.Resend(r.Context(), c.tenant, r.PathValue("id"), to)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.notify(w, r, c, "messages/"+url.PathEscape(d.Message.ID)+"/deliveries/"+url.PathEscape(d.ID), "Message queued to the endpoint again.")
}

// deliveryPage is one delivery: the request it sends and each attempt
// with its response.
type deliveryPage struct {
	Delivery *webhook.Delivery
	Endpoint *webhook.Endpoint // nil once deleted
	Request  body
	Headers  [][2]string // the request headers the portal can show
	Attempts []attemptView
}

// attemptView is an attempt as the page shows it.
type attemptView struct {
	webhook.Attempt
	Timestamp      string      // its webhook-timestamp header
	Sent, Received [][2]string // the headers it sent (credentials redacted) and received, by name
	Body           body
}

// sortedHeaders lists recorded headers by name.
func sortedHeaders(h map[string]string) [][2]string {
	out := make([][2]string, 0, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		out = append(out, [2]string{name, h[name]})
	}
	return out
}

// body is a request or response body as the page shows it: text, JSON
// indented, or base64 when it is not UTF-8.
type body struct {
	Text   string
	Base64 bool
	Note   string // in place of a body: why there is none
}

func bodyOf(b []byte) body {
	switch {
	case len(b) == 0:
		return body{Note: "empty"}
	case !utf8.Valid(b):
		return body{Text: base64.StdEncoding.EncodeToString(b), Base64: true}
	}
	var buf bytes.Buffer
	if json.Valid(b) && json.Indent(&buf, b, "", "  ") == nil {
		return body{Text: buf.String()}
	}
	return body{Text: string(b)}
}

// findDelivery finds the caller's delivery named by the path, among its
// message's deliveries.
func (h *Handler) findDelivery(r *http.Request, c *caller) (*webhook.Delivery, error) {
	want := r.PathValue("delivery")
	f := webhook.DeliveryFilter{MessageID: r.PathValue("id")}
	for {
		ds, err := h.d.Deliveries(r.Context(), c.tenant, f)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			return nil, fmt.Errorf("delivery: %w", webhook.ErrNotFound)
		}
		if i := slices.IndexFunc(ds, func(d *webhook.Delivery) bool { return d.ID == want }); i >= 0 {
			return ds[i], nil
		}
		f.AfterID = ds[len(ds)-1].ID
	}
}

// delivery handles GET /messages/{id}/deliveries/{delivery}: the
// attempts with their requests and responses.
func (h *Handler) delivery(w http.ResponseWriter, r *http.Request, c *caller) {
	d, err := h.findDelivery(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	attempts, err := h.d.Attempts(r.Context(), c.tenant, d.ID)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	p := deliveryPage{Delivery: d, Request: bodyOf(d.Message.Payload)}
	if d.Message.PayloadExpunged() {
		p.Request = body{Note: "removed by retention"}
	}
	switch e, err := h.d.GetEndpoint(r.Context(), c.tenant, d.EndpointID); {
	case err == nil:
		p.Endpoint = e
	case !errors.Is(err, webhook.ErrNotFound):
		h.failErr(w, r, c, err)
		return
	}
	p.Headers = [][2]string{{"Content-Type", "application/json"}, {"webhook-id", d.Message.ID}}
	if p.Endpoint != nil {
		for _, name := range slices.Sorted(maps.Keys(p.Endpoint.Headers)) {
			p.Headers = append(p.Headers, [2]string{name, p.Endpoint.Headers[name]})
		}
	}
	for _, a := range attempts {
		p.Attempts = append(p.Attempts, attemptView{Attempt: a, Timestamp: strconv.FormatInt(a.At.Unix(), 10), Body: bodyOf(a.Response),
			Sent: sortedHeaders(a.RequestHeaders), Received: sortedHeaders(a.ResponseHeaders)})
	}
	h.page(w, r, c, http.StatusOK, "delivery.html", "Delivery", p)
}

// retry handles POST /messages/{id}/deliveries/{delivery}/retry: a
// dead delivery is queued again.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, c *caller) {
	d, err := h.findDelivery(r, c)
	if err == nil {
		err = h.d.RetryDead(r.Context(), c.tenant, d.ID)
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.notify(w, r, c, "messages/"+url.PathEscape(d.Message.ID)+"/deliveries/"+url.PathEscape(d.ID), "Delivery queued again.")
}
