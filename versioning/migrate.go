package versioning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/saaskit/saaskit/problem"
)

var errTooLarge = errors.New("versioning: body too large to migrate")

// migrateRequest runs the request migrations on r: its headers and
// query, and its body when it is JSON or a form (read whole, within
// MaxBody). A body of another type is left as it is, with Value nil; a
// JSON-typed body that does not decode goes to the handler unmigrated,
// for it to say what is wrong.
func (a *API) migrateRequest(r *http.Request, up []Migration) error {
	b := &Body{Header: r.Header, Query: r.URL.Query()}
	query := r.URL.RawQuery
	var (
		data []byte
		form bool
	)
	if r.Body != nil && r.Body != http.NoBody && mayBeJSON(r.Header.Get("Content-Type")) {
		limit := a.opts.MaxBody
		if r.ContentLength > limit {
			return fmt.Errorf("%w: %d bytes, over %d", errTooLarge, r.ContentLength, limit)
		}
		var err error
		data, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		_ = r.Body.Close()
		if err != nil {
			return err
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		if b.Value, err = decodeJSON(data); err != nil {
			if isForm(r.Header.Get("Content-Type")) {
				if values, err := url.ParseQuery(string(data)); err == nil {
					b.Value, form = formObject(values), true
				}
			}
		}
	}
	decoded := b.Value != nil || form
	if len(data) > 0 && !decoded {
		return nil // a body that is neither JSON nor a form: the handler says what is wrong with it
	}
	if err := apply(b, up); err != nil {
		return fmt.Errorf("%w: %w", errMigration, err)
	}
	if encoded := b.Query.Encode(); encoded != query && !(encoded == "" && query == "") {
		r.URL.RawQuery = encoded
	}
	if !decoded {
		return nil // no body, or not one to migrate: the handler reads it as sent
	}
	var out []byte
	if form {
		values, err := formValues(b.Value)
		if err != nil {
			return fmt.Errorf("%w: %w", errMigration, err)
		}
		out = []byte(values.Encode())
	} else {
		var err error
		if out, err = json.Marshal(b.Value); err != nil {
			return fmt.Errorf("%w: %w", errMigration, err)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// isForm reports whether a content type is a URL-encoded form.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// formObject is a form as a JSON object: each key's value, or its
// values as an array when it is repeated.
func formObject(values url.Values) map[string]any {
	out := make(map[string]any, len(values))
	for k, vs := range values {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		out[k] = list
	}
	return out
}

// formValues encodes a migrated form object back: strings, numbers and
// booleans as they print, arrays of them as repeated keys; anything
// else has no form encoding.
func formValues(v any) (url.Values, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a migrated form body is no longer an object")
	}
	out := url.Values{}
	for k, x := range obj {
		items, isList := x.([]any)
		if !isList {
			items = []any{x}
		}
		for _, it := range items {
			switch t := it.(type) {
			case string:
				out.Add(k, t)
			case json.Number:
				out.Add(k, t.String())
			case float64, bool, int, int64:
				out.Add(k, fmt.Sprint(t))
			case nil:
			default:
				return nil, fmt.Errorf("form field %q became a %T, which a form cannot carry", k, it)
			}
		}
	}
	return out, nil
}

// notJSONError is a body that does not decode as one JSON value.
type notJSONError struct{ err error }

func (e *notJSONError) Error() string { return "not a JSON body: " + e.err.Error() }

// errMigration: a migration failed; the request cannot be served at
// the caller's version.
var errMigration = errors.New("versioning: migration failed")

// decodeJSON decodes one JSON value, numbers kept exact (json.Number).
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &notJSONError{err}
	}
	if dec.More() {
		return nil, &notJSONError{errors.New("data after the JSON value")}
	}
	return v, nil
}

// apply runs the migrations on b in order.
func apply(b *Body, ms []Migration) error {
	for _, m := range ms {
		if err := m.Apply(b); err != nil {
			return err
		}
	}
	return nil
}

// migrate decodes data, applies the migrations in order and encodes the
// result: a webhook payload.
func migrate(data []byte, status int, ms []Migration) ([]byte, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	b := &Body{Value: v, Status: status}
	if err := apply(b, ms); err != nil {
		return nil, err
	}
	return json.Marshal(b.Value)
}

// writeMigrated sends a captured response, its JSON body migrated down.
func (a *API) writeMigrated(w http.ResponseWriter, c *capture, down []*compiledChange, payloadType string) {
	var ms []Migration
	for _, ch := range down {
		for _, m := range ch.Responses {
			if m.matchesType(payloadType) {
				ms = append(ms, m)
			}
		}
	}
	body := c.body.Bytes()
	if len(ms) > 0 {
		b := &Body{Status: cmpStatus(c.status), Header: c.header}
		decoded := false
		if isJSON(c.header.Get("Content-Type")) && len(body) > 0 {
			v, err := decodeJSON(body)
			b.Value, decoded = v, err == nil
		}
		if err := apply(b, ms); err != nil {
			problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "the response could not be migrated to the requested api version"})
			return
		}
		c.status = b.Status
		if decoded || b.Value != nil && len(body) == 0 { // migrated, or given a body it had not
			out, err := json.Marshal(b.Value)
			if err != nil {
				problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "the response could not be migrated to the requested api version"})
				return
			}
			if bytes.HasSuffix(body, []byte("\n")) {
				out = append(out, '\n') // keep the handler's framing
			}
			body = out
			c.header.Set("Content-Length", strconv.Itoa(len(body)))
		}
	}
	copyHeader(w.Header(), c.header)
	w.WriteHeader(cmpStatus(c.status))
	_, _ = w.Write(body)
}

// capture buffers a handler's JSON response (or one without a body or
// a content type) for migration. A response of another type, one that
// grows past maxResponse, or one the handler flushes is passed straight
// through instead, unmigrated, so streams and large downloads stay
// streams.
type capture struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	body    bytes.Buffer
	passing bool
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	switch {
	case c.status != 0 || c.passing:
	case status >= 100 && status < 200: // informational: send at once
		copyHeader(c.w.Header(), c.header)
		c.w.WriteHeader(status)
	default:
		c.status = status
		if ct := c.header.Get("Content-Type"); ct != "" && !isJSON(ct) {
			c.pass() // a body of another kind: only JSON ones are migrated
		}
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 && !c.passing {
		c.WriteHeader(http.StatusOK)
	}
	if !c.passing && c.body.Len()+len(p) > maxResponse {
		c.pass()
	}
	if c.passing {
		return c.w.Write(p)
	}
	return c.body.Write(p)
}

// Flush implements http.Flusher: a handler that flushes is streaming.
func (c *capture) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.pass()
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

// pass sends what was captured and turns the capture into a pipe.
func (c *capture) pass() {
	if c.passing {
		return
	}
	c.passing = true
	copyHeader(c.w.Header(), c.header)
	c.w.WriteHeader(cmpStatus(c.status))
	_, _ = c.w.Write(c.body.Bytes())
	c.body.Reset()
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// mayBeJSON reports whether a request body of this type is migrated
// when it parses as JSON: JSON types, no type at all, and the form type
// that curl -d sends by default.
func mayBeJSON(contentType string) bool {
	return contentType == "" || isJSON(contentType) || strings.HasPrefix(contentType, "application/x-www-form-urlencoded")
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// RenderPayload migrates a payload of the given type (a webhook event
// type, say) from the head down to version, with the response
// migrations scoped to that type or to no route: what an endpoint pinned
// to version expects. An empty version means the head.
func (a *API) RenderPayload(version, payloadType string, payload []byte) ([]byte, error) {
	if version == "" {
		return payload, nil
	}
	v, err := a.find(version, "payload")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for i := len(a.changes) - 1; i >= 0; i-- {
		c := a.changes[i]
		if c.version.Compare(v) <= 0 {
			continue
		}
		for _, m := range c.Responses {
			if len(m.Routes) == 0 && m.matchesType(payloadType) {
				ms = append(ms, m)
			}
		}
	}
	if len(ms) == 0 {
		return payload, nil
	}
	return migrate(payload, 0, ms)
}
