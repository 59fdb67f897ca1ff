package webhookportal

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/saaskit/saaskit/webhook"
)

// indexPage is the portal's first page: the tenant's endpoints, a page
// at a time, and its delivery activity.
type indexPage struct {
	Endpoints []*webhook.Endpoint
	Next      string // the next page's query; "" for none
	Activity  activity
}

// index handles GET /: the endpoints, oldest first, and the charts.
func (h *Handler) index(w http.ResponseWriter, r *http.Request, c *caller) {
	limit, after, err := h.pageOf(r)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	period, err := periodOf(r)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	all, err := h.d.ListEndpoints(r.Context(), c.tenant) // by (CreatedAt, ID)
	if err != nil {
		h.failErr(w, r, c, err)
		return
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
	p := indexPage{Endpoints: all[start:min(len(all), start+limit)]}
	if start+limit < len(all) {
		last := all[start+limit-1]
		p.Next = next(r, cursor{ID: last.ID, At: last.CreatedAt})
	}
	w2 := period.window(h.opts.Now())
	buckets, err := h.d.AttemptHistory(r.Context(), c.tenant, w2)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	p.Activity = newActivity("all", period, buckets)
	h.page(w, r, c, http.StatusOK, "index.html", "Webhook endpoints", p)
}

// endpointForm is what the endpoint form shows and reads.
type endpointForm struct {
	Endpoint   *webhook.Endpoint // nil for a new one
	URL        string
	Types      []typeChoice // the catalogue's types, checked if chosen
	MoreTypes  string       // chosen types and families the catalogue does not list
	Channels   string
	RateLimit  string
	Ordered    bool
	Headers    string // "Name: value" lines
	Signature  string // a new endpoint's: v1 or v1a
	HasCatalog bool
}

// typeChoice is an event type of the catalogue in the form.
type typeChoice struct {
	webhook.EventType
	Checked bool
}

// formOf fills the form from an endpoint (nil: a new one).
func (h *Handler) formOf(e *webhook.Endpoint) endpointForm {
	f := endpointForm{Endpoint: e, Signature: webhook.SchemeHMAC}
	var chosen []string
	if e != nil {
		f.URL, f.Channels, f.Ordered = e.URL, strings.Join(e.Channels, ", "), e.Ordered
		if e.RateLimit > 0 {
			f.RateLimit = strconv.FormatFloat(e.RateLimit, 'g', -1, 64)
		}
		var lines []string
		for _, name := range slices.Sorted(maps.Keys(e.Headers)) {
			lines = append(lines, name+": "+e.Headers[name])
		}
		f.Headers = strings.Join(lines, "\n")
		chosen = e.EventTypes
	}
	var more []string
	for _, t := range h.d.EventTypes() {
		f.Types = append(f.Types, typeChoice{EventType: t, Checked: slices.Contains(chosen, t.Name)})
	}
	f.HasCatalog = len(f.Types) > 0
	for _, t := range chosen {
		if !slices.ContainsFunc(f.Types, func(c typeChoice) bool { return c.Name == t }) {
			more = append(more, t)
		}
	}
	f.MoreTypes = strings.Join(more, ", ")
	return f
}

// specOf reads the endpoint form into a spec, and the form to show
// again if the dispatcher refuses it.
func (h *Handler) specOf(r *http.Request, e *webhook.Endpoint) (webhook.EndpointSpec, endpointForm, error) {
	form := r.PostForm
	f := h.formOf(e)
	f.URL, f.MoreTypes, f.Channels = strings.TrimSpace(form.Get("url")), form.Get("more_event_types"), form.Get("channels")
	f.RateLimit, f.Ordered, f.Headers = strings.TrimSpace(form.Get("rate_limit")), form.Get("ordered") != "", form.Get("headers")
	spec := webhook.EndpointSpec{URL: f.URL, Ordered: f.Ordered, Channels: fields(f.Channels)}
	for i := range f.Types {
		f.Types[i].Checked = slices.Contains(form["event_types"], f.Types[i].Name)
	}
	// Ticked types in the order given, then those typed: the dispatcher
	// refuses any that the catalogue does not have.
	for _, t := range append(slices.Clone(form["event_types"]), fields(f.MoreTypes)...) {
		if !slices.Contains(spec.EventTypes, t) {
			spec.EventTypes = append(spec.EventTypes, t)
		}
	}
	if e != nil {
		spec.APIVersion, spec.Metadata = e.APIVersion, e.Metadata // kept; Auth nil keeps the endpoint's
	} else {
		f.Signature = form.Get("signature")
		switch f.Signature {
		case "", webhook.SchemeHMAC, webhook.SchemeEd25519:
			spec.Signature = f.Signature
		default:
			return spec, f, badf("signature must be v1 (HMAC) or v1a (Ed25519)")
		}
	}
	if f.RateLimit != "" {
		rate, err := strconv.ParseFloat(f.RateLimit, 64)
		if err != nil || rate < 0 {
			return spec, f, badf("rate limit must be a number of deliveries per second, or empty for none")
		}
		spec.RateLimit = rate
	}
	for line := range strings.Lines(f.Headers) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return spec, f, badf("each header line must be \"Name: value\"")
		}
		if spec.Headers == nil {
			spec.Headers = map[string]string{}
		}
		spec.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return spec, f, nil
}

// fields splits a list typed by hand at commas and white space.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// newEndpoint handles GET /endpoints/new.
func (h *Handler) newEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	h.page(w, r, c, http.StatusOK, "form.html", "New endpoint", h.formOf(nil))
}

// formFailed shows the form again with what was typed and why it was
// refused.
func (h *Handler) formFailed(w http.ResponseWriter, r *http.Request, c *caller, f endpointForm, title string, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		h.failErr(w, r, c, err)
		return
	}
	v := h.viewFor(c, title, f)
	v.Flash = msg
	h.render(w, r, status, "form.html", v)
}

// createEndpoint handles POST /endpoints: the secret is shown once.
func (h *Handler) createEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	spec, f, err := h.specOf(r, nil)
	if err != nil {
		h.formFailed(w, r, c, f, "New endpoint", err)
		return
	}
	e, secret, err := h.d.CreateEndpoint(r.Context(), c.tenant, spec)
	if err != nil {
		h.formFailed(w, r, c, f, "New endpoint", err)
		return
	}
	h.page(w, r, c, http.StatusCreated, "secret.html", "Endpoint created", secretPage{Endpoint: e, Secret: secret, Created: true})
}

// secretPage shows a new secret, once.
type secretPage struct {
	Endpoint *webhook.Endpoint
	Secret   string
	Created  bool
	Until    time.Time // when the replaced secrets stop signing
}

// PublicKey reports whether Secret is an Ed25519 public key (v1a).
func (p secretPage) PublicKey() bool { return strings.HasPrefix(p.Secret, "whpk_") }

// endpointPage is an endpoint with its activity and deliveries.
type endpointPage struct {
	Endpoint *webhook.Endpoint
	Activity activity
	List     deliveryList
}

// deliveryList is a page of deliveries.
type deliveryList struct {
	Deliveries []*webhook.Delivery
	State      webhook.DeliveryState // the filter: "" for all
	Next       string
}

// endpoint handles GET /endpoints/{id}.
func (h *Handler) endpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := h.endpointOf(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	p := endpointPage{Endpoint: e}
	period, err := periodOf(r)
	if err == nil {
		p.List.State, err = stateOf(r)
	}
	if err == nil {
		p.List, err = h.deliveries(r, c, webhook.DeliveryFilter{EndpointID: e.ID, State: p.List.State})
	}
	var buckets []webhook.AttemptBucket
	if err == nil {
		buckets, err = h.endpointHistory(r, c, e.ID, period.window(h.opts.Now()))
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	p.Activity = newActivity("endpoint", period, buckets)
	h.page(w, r, c, http.StatusOK, "endpoint.html", "Endpoint", p)
}

// stateOf reads the state query parameter.
func stateOf(r *http.Request) (webhook.DeliveryState, error) {
	switch s := webhook.DeliveryState(r.URL.Query().Get("state")); s {
	case "", webhook.StatePending, webhook.StateSucceeded, webhook.StateDead:
		return s, nil
	}
	return "", badf("state must be pending, succeeded or dead")
}

// deliveries reads a page of the caller's deliveries that match f.
func (h *Handler) deliveries(r *http.Request, c *caller, f webhook.DeliveryFilter) (deliveryList, error) {
	list := deliveryList{State: f.State}
	limit, after, err := h.pageOf(r)
	if err != nil {
		return list, err
	}
	f.Limit = limit + 1
	if after != nil {
		f.AfterID = after.ID
	}
	ds, err := h.d.Deliveries(r.Context(), c.tenant, f)
	if err != nil {
		return list, err
	}
	list.Deliveries = ds
	if len(ds) > limit {
		list.Deliveries, list.Next = ds[:limit], next(r, cursor{ID: ds[limit-1].ID})
	}
	return list, nil
}

// editEndpoint handles GET /endpoints/{id}/edit.
func (h *Handler) editEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := h.endpointOf(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.page(w, r, c, http.StatusOK, "form.html", "Edit endpoint", h.formOf(e))
}

// updateEndpoint handles POST /endpoints/{id}: the form replaces the
// endpoint's settings; its secrets, authentication, API version and
// metadata stay.
func (h *Handler) updateEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := h.endpointOf(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	spec, f, err := h.specOf(r, e)
	if err == nil {
		_, err = h.d.UpdateEndpoint(r.Context(), c.tenant, e.ID, spec)
	}
	if err != nil {
		h.formFailed(w, r, c, f, "Edit endpoint", err)
		return
	}
	h.notify(w, r, c, "endpoints/"+url.PathEscape(e.ID), "Endpoint saved.")
}

// act runs an action on the caller's endpoint and goes back to its
// page with a notice, or shows why it failed.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, c *caller, do func(e *webhook.Endpoint) (string, error)) {
	e, err := h.endpointOf(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	msg, err := do(e)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.notify(w, r, c, "endpoints/"+url.PathEscape(e.ID), msg)
}

// deleteEndpoint handles POST /endpoints/{id}/delete {confirm}.
func (h *Handler) deleteEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := h.endpointOf(r, c)
	if err == nil && r.PostForm.Get("confirm") == "" {
		err = badf("tick the box to confirm the deletion")
	}
	if err == nil {
		err = h.d.DeleteEndpoint(r.Context(), c.tenant, e.ID)
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.notify(w, r, c, "", "Endpoint "+e.URL+" deleted.")
}

// disableEndpoint handles POST /endpoints/{id}/disable {reason}.
func (h *Handler) disableEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	h.act(w, r, c, func(e *webhook.Endpoint) (string, error) {
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		if reason == "" {
			reason = "disabled in the portal"
		}
		if len(reason) > 200 {
			return "", badf("reason must be at most 200 bytes")
		}
		return "Endpoint disabled.", h.d.DisableEndpoint(r.Context(), c.tenant, e.ID, reason)
	})
}

// enableEndpoint handles POST /endpoints/{id}/enable.
func (h *Handler) enableEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	h.act(w, r, c, func(e *webhook.Endpoint) (string, error) {
		return "Endpoint enabled.", h.d.EnableEndpoint(r.Context(), c.tenant, e.ID)
	})
}

// maxOverlapHours bounds a rotation's overlap: 30 days.
const maxOverlapHours = 30 * 24

// rotateSecret handles POST /endpoints/{id}/rotate {overlap_hours}: the
// new secret is shown once; the replaced ones sign beside it for the
// overlap (a day when empty).
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := h.endpointOf(r, c)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	overlap := webhook.DefaultSecretOverlap
	if v := strings.TrimSpace(r.PostForm.Get("overlap_hours")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxOverlapHours {
			h.failErr(w, r, c, badf("overlap must be a whole number of hours from 0 to %d", maxOverlapHours))
			return
		}
		overlap = time.Duration(n) * time.Hour
		if n == 0 {
			overlap = time.Second // none to speak of: the old secret stops at once
		}
	}
	secret, err := h.d.RotateSecret(r.Context(), c.tenant, e.ID, overlap)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.page(w, r, c, http.StatusOK, "secret.html", "Secret rotated", secretPage{Endpoint: e, Secret: secret, Until: h.opts.Now().Add(overlap).UTC()})
}

// windowOf reads a form's since and until: [since, until), until now
// when empty.
func windowOf(r *http.Request) (since, until time.Time, err error) {
	if since, err = timeOf(r.PostForm.Get("since"), "since"); err != nil {
		return
	}
	if until, err = timeOf(r.PostForm.Get("until"), "until"); err != nil {
		return
	}
	if !until.IsZero() && !since.Before(until) {
		err = badf("since must be before until")
	}
	return
}

// replay handles POST /endpoints/{id}/replay {since, until,
// only_missing}: the window's messages go to the endpoint again.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, c *caller) {
	h.act(w, r, c, func(e *webhook.Endpoint) (string, error) {
		since, until, err := windowOf(r)
		if err != nil {
			return "", err
		}
		n, err := h.d.Replay(r.Context(), c.tenant, e.ID, webhook.ReplayOptions{Since: since, Until: until, OnlyMissing: r.PostForm.Get("only_missing") != ""})
		return plural(n, "message", "messages") + " queued again.", err
	})
}

// recoverEndpoint handles POST /endpoints/{id}/recover {since, until}:
// the window's dead deliveries are queued again.
func (h *Handler) recoverEndpoint(w http.ResponseWriter, r *http.Request, c *caller) {
	h.act(w, r, c, func(e *webhook.Endpoint) (string, error) {
		since, until, err := windowOf(r)
		if err != nil {
			return "", err
		}
		n, err := h.d.Recover(r.Context(), c.tenant, e.ID, since, until)
		return plural(n, "failed delivery", "failed deliveries") + " queued again.", err
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// eventTypes handles GET /event-types: the catalogue, for choosing what
// an endpoint takes.
func (h *Handler) eventTypes(w http.ResponseWriter, r *http.Request, c *caller) {
	h.page(w, r, c, http.StatusOK, "event-types.html", "Event types", h.d.EventTypes())
}
