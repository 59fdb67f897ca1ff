package versioning

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Change is one step of an API's history: what changed at Version, with
// the migrations that translate between Version and the version before
// it. Handlers implement only the newest version; the changes carry
// older callers' requests up and the responses back down.
type Change struct {
	// Version is the version that introduced the change.
	Version string
	// Description is the changelog entry, in Markdown.
	Description string
	// Requests migrate request bodies from the version before to
	// Version, for callers older than Version.
	Requests []Migration
	// Responses migrate response bodies (errors included) from Version
	// to the version before, for callers older than Version.
	Responses []Migration
	// AddedRoutes are ServeMux patterns ("POST /invoices/{id}/pay") that
	// exist from Version on: older callers get 404.
	AddedRoutes []string
	// RemovedRoutes are patterns that no longer exist from Version on:
	// callers at Version or newer get 410; older callers are still served
	// by the handler the application keeps for them.
	RemovedRoutes []string
	// RenamedRoutes are routes whose path changed at Version, old
	// pattern to new ("GET /customers/{id}": "GET /clients/{id}"), with
	// the same method and wildcards: older callers' requests to the old
	// path reach the handler of the new one, and older versions'
	// documents show the old path. Migrations and Operations name routes
	// as the head does.
	RenamedRoutes map[string]string
}

// Migration rewrites one JSON body.
type Migration struct {
	// Routes limits the migration to requests matching these ServeMux
	// patterns; empty means every route.
	Routes []string
	// Types limits it to payloads of these types: the type a handler
	// declares with SetType, or a webhook event type for RenderPayload.
	// Empty means every type.
	Types []string
	// Apply rewrites the body in place.
	Apply func(b *Body) error
	// Effects declare what the change did to the schema of the bodies
	// this migration reaches (FieldRenamed, FieldAdded, ...), so that
	// older versions' documents follow from the head's; a migration
	// that changes no schema has none.
	Effects []SchemaEffect
}

// Body is a request or response under migration: its JSON (or form)
// body, and its headers, query and status, which Apply may all change.
type Body struct {
	// Value is the decoded JSON (map[string]any, []any, string,
	// json.Number, bool or nil); Apply may replace it. A form-encoded
	// request body is an object of strings (an array of them for a
	// repeated key), encoded back as a form. Nil when there is no body,
	// or one the middleware does not decode.
	Value any
	// Status is the response status, which a response migration may
	// change (Apply runs on error responses too); 0 for a request or a
	// webhook payload.
	Status int
	// Header is the request's headers in a request migration, the
	// response's in a response migration; nil for a webhook payload.
	Header http.Header
	// Query is the request's query parameters in a request migration;
	// nil otherwise.
	Query url.Values
}

// Lifecycle is the deprecation and sunset of a version or a route.
type Lifecycle struct {
	// Deprecated, when set, is sent in a Deprecation header (RFC 9745,
	// "@<unix seconds>") on every response at that version or route,
	// before the date as a notice and after it as a fact.
	Deprecated time.Time
	// Sunset, when set, is announced in a Sunset header (RFC 8594); from
	// then on requests fail with 410 and problem+json. It must not
	// precede Deprecated.
	Sunset time.Time
	// Link is the documentation of the deprecation, sent as
	// Link: <url>; rel="deprecation".
	Link string
}

// PinStore keeps each tenant's pinned version. versioning/memstore and
// versioning/sqlstore implement it.
type PinStore interface {
	// Pin returns the tenant's pinned version; ErrNoPin when it has none.
	Pin(ctx context.Context, tenantID string) (string, error)
	// SetPin pins the tenant to version, replacing any pin.
	SetPin(ctx context.Context, tenantID, version string) error
}

// ErrNoPin means the tenant has no pinned version.
var ErrNoPin = errors.New("versioning: no pinned version")

// ErrInvalid means the API's definition is inconsistent.
var ErrInvalid = errors.New("versioning: invalid api definition")

// Options configure an API.
type Options struct {
	// Versions lists every version, oldest first; the last is the head,
	// the version handlers implement. Required.
	Versions []string
	// Changes describe what each version after the first changed. At
	// most one Change per version.
	Changes []Change
	// Header is the request and response header naming the version.
	// Default "API-Version".
	Header string
	// PathPrefix resolves a version from the first path segment
	// (/v2/users) and strips it before the handler sees the path. For
	// major versions.
	PathPrefix bool
	// MediaType, when set, resolves a version from the Accept header's
	// version parameter for this media type
	// (application/vnd.example+json; version=2024-01-15).
	MediaType string
	// Pins, when set, resolves an unversioned request of a tenant (from
	// package tenancy's context) to the tenant's pinned version, when
	// the tenant record pins none: tenancy.Tenant.APIVersion comes
	// first. TenantPins keeps the pins in the tenant record itself, so
	// there is one source of truth.
	Pins PinStore
	// AutoPin pins a tenant without a pin to Default at its first
	// unversioned request, as Stripe pins an account.
	AutoPin bool
	// Default is the version of requests that name none and have no pin.
	// Default: the head.
	Default string
	// VersionLifecycle deprecates and sunsets versions.
	VersionLifecycle map[string]Lifecycle
	// RouteLifecycle deprecates and sunsets routes, by ServeMux pattern.
	RouteLifecycle map[string]Lifecycle
	// MaxBody bounds a request body that must be migrated, which the
	// middleware reads whole before the handler's own limit applies: a
	// larger one is refused with 413 before it is read (by its
	// Content-Length) or as soon as it passes the bound. Default 1 MiB.
	MaxBody int64
	// Now is the clock of sunsets. Default time.Now.
	Now func() time.Time
	// MeterProvider receives saaskit.versioning.requests, by version and
	// tenant. Default the global provider.
	MeterProvider metric.MeterProvider
	// Title names the API in its OpenAPI documents. Default "API".
	Title string
	// Operations document the routes, with their schemas as of the
	// newest version that has them; every version's OpenAPI document is
	// derived from them and the changes' schema effects.
	Operations []Operation
	// Payloads are the schemas of payloads by type (a webhook event's,
	// say) at the head; PayloadSchema derives them at each version with
	// the response migrations that RenderPayload applies.
	Payloads map[string]Schema
	// DocumentPath, when set, is where OpenAPIHandler is mounted
	// ("/openapi/"): the changelog links each version's document there.
	DocumentPath string
}

// API is a versioned API: its versions, the changes between them, and
// how requests name a version.
type API struct {
	opts     Options
	versions []Version // oldest first
	head     Version
	def      Version
	changes  []compiledChange // oldest first
	routes   *http.ServeMux   // matches the patterns the changes and lifecycles name
	patterns map[string]bool  // registered in routes
	byName   map[string]Version
	header   string              // Options.Header, canonical
	echo     map[string][]string // the version header's value, per version
	usage    sync.Map            // usageKey -> metric.MeasurementOption
	usageN   atomic.Int64        // entries in usage
	requests metric.Int64Counter
	schemas  []map[string]opSchemas // by version index, then route
	payloads []map[string]Schema    // by version index, then payload type
	docs     map[string][]byte      // OpenAPI documents by version
	renames  []rename               // oldest first
}

type compiledChange struct {
	Change
	version Version
	index   int // of version in API.versions
}

// New checks opts and returns the API.
func New(opts Options) (*API, error) {
	if len(opts.Versions) == 0 {
		return nil, fmt.Errorf("%w: no versions", ErrInvalid)
	}
	if opts.Header == "" {
		opts.Header = "API-Version"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	a := &API{opts: opts, routes: http.NewServeMux(), patterns: map[string]bool{}}
	for i, s := range opts.Versions {
		v, err := ParseVersion(s)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			prev := a.versions[i-1]
			if v.isMajor() != prev.isMajor() {
				return nil, fmt.Errorf("%w: versions %s and %s mix dates and majors", ErrInvalid, prev, v)
			}
			if v.Compare(prev) <= 0 {
				return nil, fmt.Errorf("%w: versions must be listed oldest first without repeats: %s after %s", ErrInvalid, v, prev)
			}
		}
		a.versions = append(a.versions, v)
	}
	a.header = http.CanonicalHeaderKey(opts.Header)
	a.byName, a.echo = map[string]Version{}, map[string][]string{}
	for _, v := range a.versions {
		a.byName[v.String()] = v
		a.echo[v.String()] = []string{v.String()}
	}
	a.head = a.versions[len(a.versions)-1]
	a.def = a.head
	if opts.Default != "" {
		v, ok := a.lookup(opts.Default)
		if !ok {
			return nil, fmt.Errorf("%w: default version %q is not one of the versions", ErrInvalid, opts.Default)
		}
		a.def = v
	}
	if opts.AutoPin && opts.Pins == nil {
		return nil, fmt.Errorf("%w: AutoPin needs Pins", ErrInvalid)
	}
	if err := a.compileChanges(); err != nil {
		return nil, err
	}
	if err := a.compileRenames(); err != nil {
		return nil, err
	}
	if err := a.checkLifecycles(); err != nil {
		return nil, err
	}
	if err := a.deriveSchemas(); err != nil {
		return nil, err
	}
	if err := a.buildDocuments(); err != nil {
		return nil, err
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var err error
	a.requests, err = mp.Meter("github.com/saaskit/saaskit/versioning").Int64Counter("saaskit.versioning.requests",
		metric.WithUnit("{request}"), metric.WithDescription("Requests by resolved API version and tenant."))
	if err != nil {
		return nil, fmt.Errorf("versioning metrics: %w", err)
	}
	return a, nil
}

func (a *API) compileChanges() error {
	seen := map[string]bool{}
	for _, c := range a.opts.Changes {
		v, ok := a.lookup(c.Version)
		if !ok {
			return fmt.Errorf("%w: change for unknown version %q", ErrInvalid, c.Version)
		}
		if v.Compare(a.versions[0]) == 0 {
			return fmt.Errorf("%w: change at the first version %s: there is nothing before it to migrate from", ErrInvalid, v)
		}
		if seen[v.String()] {
			return fmt.Errorf("%w: two changes for version %s: merge them", ErrInvalid, v)
		}
		seen[v.String()] = true
		for _, m := range slices.Concat(c.Requests, c.Responses) {
			if m.Apply == nil {
				return fmt.Errorf("%w: version %s: a migration without Apply", ErrInvalid, v)
			}
			if err := a.addRoutes(m.Routes); err != nil {
				return err
			}
		}
		if err := a.addRoutes(slices.Concat(c.AddedRoutes, c.RemovedRoutes)); err != nil {
			return err
		}
		a.changes = append(a.changes, compiledChange{Change: c, version: v, index: slices.IndexFunc(a.versions, func(x Version) bool { return x.Compare(v) == 0 })})
	}
	slices.SortFunc(a.changes, func(x, y compiledChange) int { return x.index - y.index })
	return nil
}

func (a *API) checkLifecycles() error {
	for s, l := range a.opts.VersionLifecycle {
		if _, ok := a.lookup(s); !ok {
			return fmt.Errorf("%w: lifecycle for unknown version %q", ErrInvalid, s)
		}
		if err := l.check(); err != nil {
			return fmt.Errorf("%w: version %s: %w", ErrInvalid, s, err)
		}
	}
	for p, l := range a.opts.RouteLifecycle {
		if err := l.check(); err != nil {
			return fmt.Errorf("%w: route %s: %w", ErrInvalid, p, err)
		}
		if err := a.addRoutes([]string{p}); err != nil {
			return err
		}
	}
	return nil
}

func (l Lifecycle) check() error {
	if !l.Sunset.IsZero() && !l.Deprecated.IsZero() && l.Sunset.Before(l.Deprecated) {
		return errors.New("sunset precedes deprecation")
	}
	return nil
}

// addRoutes registers patterns in the matcher, once each.
func (a *API) addRoutes(patterns []string) (err error) {
	for _, p := range patterns {
		if a.patterns[p] {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil { // ServeMux panics on bad or conflicting patterns
					err = fmt.Errorf("%w: route pattern %q: %v", ErrInvalid, p, r)
				}
			}()
			a.routes.Handle(p, routeMarker(p))
		}()
		if err != nil {
			return err
		}
		a.patterns[p] = true
	}
	return nil
}

// routeMarker is the matcher's handler for a pattern; only its pattern
// matters.
type routeMarker string

func (routeMarker) ServeHTTP(http.ResponseWriter, *http.Request) {}

// lookup finds a version by its string; a date version matches with or
// without its name.
func (a *API) lookup(s string) (Version, bool) {
	if v, ok := a.byName[s]; ok {
		return v, true
	}
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, false
	}
	for _, w := range a.versions {
		if w.Compare(v) == 0 && w.isMajor() == v.isMajor() {
			if v.name != w.name && strings.Contains(v.name, ".") {
				return Version{}, false // a different name for that date
			}
			return w, true
		}
	}
	return Version{}, false
}

// Versions returns the versions, oldest first.
func (a *API) Versions() []string {
	out := make([]string, len(a.versions))
	for i, v := range a.versions {
		out[i] = v.String()
	}
	return out
}

// Head returns the newest version.
func (a *API) Head() string { return a.head.String() }
