package versioning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/saaskit/saaskit/internal/problem"
	"github.com/saaskit/saaskit/tenancy"
)

// DefaultMaxBody is Options.MaxBody's default: the largest request body
// the middleware reads to migrate it.
const DefaultMaxBody = 1 << 20

// maxResponse bounds a response the middleware buffers to migrate; a
// larger one passes through unmigrated, as a stream.
const maxResponse = 8 << 20

// request is what the middleware knows of a request; handlers reach it
// through the context.
type request struct {
	version     Version
	payloadType string
}

type ctxKey struct{}

// FromContext returns the version a request was resolved to, "" outside
// the middleware.
func FromContext(ctx context.Context) string {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		return r.version.String()
	}
	return ""
}

// SetType declares the type of the payload the handler responds with
// ("invoice", "user.created"), so that migrations scoped to that type
// apply. Call it before writing the response.
func SetType(ctx context.Context, payloadType string) {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		r.payloadType = payloadType
	}
}

// ResolveError is a request naming a version the API cannot serve.
type ResolveError struct {
	Given  string // the version as given ("" when the tenant's pin failed)
	Source string // header, path, accept or pin
	Err    error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("api version %q from the %s: %v", truncate(e.Given), e.Source, e.Err)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// ErrUnknownVersion is a well-formed version this API does not have.
var ErrUnknownVersion = errors.New("versioning: unknown version")

// Resolve returns the version of r by the documented precedence: the
// version header, then the path prefix (when enabled), then the Accept
// media type's version parameter (when configured), then the tenant's
// pin (its record's APIVersion, else Pins' when set; pinning at the
// first request with AutoPin), then the default. It also returns the path to route with, without the
// version prefix.
func (a *API) Resolve(r *http.Request) (Version, string, error) {
	path := r.URL.Path
	if s := r.Header.Get(a.opts.Header); s != "" {
		v, err := a.find(s, "header")
		return v, a.stripped(path), err
	}
	if a.opts.PathPrefix {
		if seg, rest, ok := versionSegment(path); ok {
			v, err := a.find(seg, "path")
			return v, rest, err
		}
	}
	if a.opts.MediaType != "" {
		if s := a.acceptVersion(r.Header.Values("Accept")); s != "" {
			v, err := a.find(s, "accept")
			return v, path, err
		}
	}
	if v, ok, err := a.pinned(r.Context()); ok || err != nil {
		return v, path, err
	}
	return a.def, path, nil
}

// stripped removes a version prefix from path when prefixes are on, so
// a header can override a prefixed path.
func (a *API) stripped(path string) string {
	if a.opts.PathPrefix {
		if _, rest, ok := versionSegment(path); ok {
			return rest
		}
	}
	return path
}

func (a *API) find(s, source string) (Version, error) {
	if v, ok := a.byName[s]; ok {
		return v, nil
	}
	if _, err := ParseVersion(s); err != nil {
		return Version{}, &ResolveError{Given: s, Source: source, Err: err}
	}
	v, ok := a.lookup(s)
	if !ok {
		return Version{}, &ResolveError{Given: s, Source: source, Err: ErrUnknownVersion}
	}
	return v, nil
}

// versionSegment splits "/v2/rest" into "v2" and "/rest" when the first
// segment looks like a major version.
func versionSegment(path string) (seg, rest string, ok bool) {
	p := strings.TrimPrefix(path, "/")
	seg, tail, found := strings.Cut(p, "/")
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return "", path, false
	}
	for _, c := range []byte(seg[1:]) {
		if c < '0' || c > '9' {
			return "", path, false
		}
	}
	if !found {
		return seg, "/", true
	}
	return seg, "/" + tail, true
}

// acceptVersion returns the version parameter of the configured media
// type in Accept headers, "" when none names one.
func (a *API) acceptVersion(values []string) string {
	for _, header := range values {
		for r := range strings.SplitSeq(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
			if err == nil && strings.EqualFold(mt, a.opts.MediaType) && params["version"] != "" {
				return params["version"]
			}
		}
	}
	return ""
}

// pinned resolves the tenant's pin: the tenant record's APIVersion, else
// the PinStore's; ok is false when there is no tenant or no pin (and no
// AutoPin).
func (a *API) pinned(ctx context.Context) (Version, bool, error) {
	t, err := tenancy.FromContext(ctx)
	if err != nil {
		return Version{}, false, nil
	}
	if t.APIVersion != "" {
		v, err := a.find(t.APIVersion, "pin")
		return v, true, err
	}
	if a.opts.Pins == nil {
		return Version{}, false, nil
	}
	s, err := a.opts.Pins.Pin(ctx, t.ID)
	switch {
	case errors.Is(err, ErrNoPin) && a.opts.AutoPin:
		if err := a.opts.Pins.SetPin(ctx, t.ID, a.def.String()); err != nil {
			return Version{}, false, fmt.Errorf("versioning: pin tenant: %w", err)
		}
		return a.def, true, nil
	case errors.Is(err, ErrNoPin):
		return Version{}, false, nil
	case err != nil:
		return Version{}, false, fmt.Errorf("versioning: read tenant pin: %w", err)
	}
	v, err := a.find(s, "pin")
	return v, true, err
}

// Middleware resolves each request's version, echoes it in the version
// header, announces deprecations and sunsets, refuses sunset versions
// and routes that do not exist at the caller's version, and migrates
// request and response bodies between the caller's version and the head.
func (a *API) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, path, err := a.Resolve(r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		if path != r.URL.Path {
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = path, ""
			r2.URL = &u
			r = &r2
		}
		w.Header()[a.header] = a.echo[v.String()] // a shared, full slice: an Add copies it
		a.count(r.Context(), v)
		if a.gone(w, r, v) {
			return
		}
		if len(a.renames) > 0 { // an older caller's path to a route renamed since
			if p := a.renamedPath(v, r.Method, r.URL.EscapedPath()); p != r.URL.EscapedPath() {
				if r2, err := withPath(r, p); err == nil {
					r = r2
				}
			}
		}
		st := &request{version: v}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
		pattern := a.pattern(r)
		if !a.routeExists(w, r, v, pattern) {
			return
		}
		up, down := a.steps(v, pattern)
		if len(up) == 0 && len(down) == 0 {
			next.ServeHTTP(w, r) // at the head: nothing to migrate
			return
		}
		if len(up) > 0 {
			if err := a.migrateRequest(r, up); err != nil {
				a.refuse(w, r, err)
				return
			}
		}
		if len(down) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		c := &capture{w: w, header: http.Header{}}
		next.ServeHTTP(c, r)
		if !c.passing {
			a.writeMigrated(w, c, down, st.payloadType)
		}
	})
}

// refuse answers a request the API cannot serve with problem+json.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var re *ResolveError
	switch {
	case errors.Is(err, errTooLarge):
		problem.Write(w, problem.Details{Status: http.StatusRequestEntityTooLarge, Detail: err.Error()})
	case errors.Is(err, errMigration):
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Title: "Request not valid at this API version", Detail: err.Error()})
	case errors.As(err, &re) && re.Source != "pin":
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Title: "Unsupported API version",
			Detail:     fmt.Sprintf("%s; supported versions: %s", err.Error(), strings.Join(a.supported(), ", ")),
			Extensions: map[string]any{"supported_versions": a.supported()}})
	default:
		problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "could not resolve the api version"})
	}
}

// supported lists the versions not past their sunset, oldest first.
func (a *API) supported() []string {
	now := a.opts.Now()
	var out []string
	for _, v := range a.versions {
		if l := a.opts.VersionLifecycle[v.String()]; l.Sunset.IsZero() || now.Before(l.Sunset) {
			out = append(out, v.String())
		}
	}
	return out
}

// gone writes the version's lifecycle headers, and 410 when it is past
// its sunset.
func (a *API) gone(w http.ResponseWriter, r *http.Request, v Version) bool {
	l, ok := a.opts.VersionLifecycle[v.String()]
	if !ok {
		return false
	}
	l.announce(w.Header())
	if l.Sunset.IsZero() || a.opts.Now().Before(l.Sunset) {
		return false
	}
	oldest := "none"
	if s := a.supported(); len(s) > 0 {
		oldest = s[0]
	}
	problem.Write(w, problem.Details{Status: http.StatusGone, Title: "API version sunset",
		Detail:     fmt.Sprintf("api version %s was sunset on %s; the oldest supported version is %s", v, l.Sunset.UTC().Format(http.TimeFormat), oldest),
		Extensions: map[string]any{"oldest_supported_version": oldest}})
	return true
}

// announce sets the Deprecation, Sunset and Link headers.
func (l Lifecycle) announce(h http.Header) {
	if !l.Deprecated.IsZero() {
		h.Set("Deprecation", "@"+strconv.FormatInt(l.Deprecated.Unix(), 10))
	}
	if !l.Sunset.IsZero() {
		h.Set("Sunset", l.Sunset.UTC().Format(http.TimeFormat))
	}
	if l.Link != "" {
		h.Add("Link", "<"+l.Link+`>; rel="deprecation"`)
	}
}

// pattern returns the matched route pattern among those the API names,
// "" when none matches.
func (a *API) pattern(r *http.Request) string {
	if len(a.patterns) == 0 {
		return ""
	}
	h, pattern := a.routes.Handler(r)
	if _, ok := h.(routeMarker); !ok {
		return ""
	}
	return pattern
}

// routeExists answers 404 for a route added after v, 410 for one
// removed at or before v or past its sunset, and announces a route's
// deprecation.
func (a *API) routeExists(w http.ResponseWriter, r *http.Request, v Version, pattern string) bool {
	if pattern == "" {
		return true
	}
	for _, c := range a.changes {
		newer := c.version.Compare(v) > 0
		switch {
		case newer && containsPattern(c.AddedRoutes, pattern):
			problem.Write(w, problem.Details{Status: http.StatusNotFound,
				Detail: fmt.Sprintf("%s exists from api version %s on; this request is at %s", pattern, c.version, v)})
			return false
		case !newer && containsPattern(c.RemovedRoutes, pattern):
			problem.Write(w, problem.Details{Status: http.StatusGone,
				Detail: fmt.Sprintf("%s was removed in api version %s; this request is at %s", pattern, c.version, v)})
			return false
		}
	}
	if l, ok := a.opts.RouteLifecycle[pattern]; ok {
		l.announce(w.Header())
		if !l.Sunset.IsZero() && !a.opts.Now().Before(l.Sunset) {
			problem.Write(w, problem.Details{Status: http.StatusGone,
				Detail: fmt.Sprintf("%s was sunset on %s", pattern, l.Sunset.UTC().Format(http.TimeFormat))})
			return false
		}
	}
	return true
}

func containsPattern(list []string, p string) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// steps returns the request migrations to apply for a caller at v on
// pattern, oldest change first, and the changes whose response
// migrations may apply, newest first (their types are known only after
// the handler ran).
func (a *API) steps(v Version, pattern string) (up []Migration, down []*compiledChange) {
	for i := range a.changes {
		c := &a.changes[i]
		if c.version.Compare(v) <= 0 {
			continue
		}
		for _, m := range c.Requests {
			if m.matchesRoute(pattern) {
				up = append(up, m)
			}
		}
		for _, m := range c.Responses {
			if m.matchesRoute(pattern) {
				down = append(down, c)
				break
			}
		}
	}
	for i, j := 0, len(down)-1; i < j; i, j = i+1, j-1 {
		down[i], down[j] = down[j], down[i]
	}
	return up, down
}

func (m Migration) matchesRoute(pattern string) bool {
	return len(m.Routes) == 0 || containsPattern(m.Routes, pattern)
}

func (m Migration) matchesType(t string) bool {
	return len(m.Types) == 0 || containsPattern(m.Types, t)
}

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

// usageKey is a (version, tenant) pair of the usage metric.
type usageKey struct{ version, tenant string }

// maxUsageKeys bounds the cache of the usage metric's attribute sets.
const maxUsageKeys = 10_000

// count records a request in the usage metric. The attribute set of each
// (version, tenant) is built once and cached.
func (a *API) count(ctx context.Context, v Version) {
	k := usageKey{version: v.String()}
	if t, err := tenancy.FromContext(ctx); err == nil {
		k.tenant = t.ID
	}
	if opt, ok := a.usage.Load(k); ok {
		a.requests.Add(ctx, 1, opt.(metric.MeasurementOption))
		return
	}
	attrs := []attribute.KeyValue{attribute.String("saaskit.versioning.version", k.version)}
	if k.tenant != "" {
		attrs = append(attrs, attribute.String(tenancy.AttrKey, k.tenant))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	if a.usageN.Load() < maxUsageKeys {
		if _, loaded := a.usage.LoadOrStore(k, opt); !loaded {
			a.usageN.Add(1)
		}
	}
	a.requests.Add(ctx, 1, opt)
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
