package observability

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/tenancy"
)

// HTTPOptions configure Middleware and Transport. The zero value uses
// the global providers that otelsetup.Setup installs.
type HTTPOptions struct {
	// TracerProvider receives the spans. Default the global provider.
	TracerProvider trace.TracerProvider
	// MeterProvider receives otelhttp's metrics. Default the global one.
	MeterProvider metric.MeterProvider
	// Propagators carry the trace context and baggage in headers.
	// Default the global propagators (W3C trace context and baggage once
	// otelsetup.Setup ran).
	Propagators propagation.TextMapPropagator
	// Filter, when set, leaves requests it returns false for untraced
	// (health probes, say). Default: every request is traced.
	Filter func(*http.Request) bool
}

func (o HTTPOptions) otelhttp() []otelhttp.Option {
	var opts []otelhttp.Option
	if o.TracerProvider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(o.TracerProvider))
	}
	if o.MeterProvider != nil {
		opts = append(opts, otelhttp.WithMeterProvider(o.MeterProvider))
	}
	if o.Propagators != nil {
		opts = append(opts, otelhttp.WithPropagators(o.Propagators))
	}
	return opts
}

// Middleware traces and measures requests with otelhttp (the stable HTTP
// server semantic conventions: span per request, http.server.request.duration
// and body sizes), names each span after its route ("GET /api/users/{id}",
// when the handler inside is an http.ServeMux), and records the tenant
// (tenant.id) that tenancy.Middleware resolves further in.
func Middleware(opts HTTPOptions) func(http.Handler) http.Handler {
	o := append(opts.otelhttp(), otelhttp.WithSpanNameFormatter(routeName))
	if opts.Filter != nil {
		o = append(o, otelhttp.WithFilter(opts.Filter))
	}
	return func(next http.Handler) http.Handler {
		routed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Pattern != "" { // set by the mux on this very request
				trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(route(r.Pattern)))
			}
		})
		return otelhttp.NewHandler(routed, "http.server", o...)
	}
}

// routeName is a span's name: "METHOD route" once the mux has matched a
// pattern, "METHOD" before.
func routeName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	return r.Method + " " + route(r.Pattern)
}

// route is a ServeMux pattern's path: "GET example.com/users/{id}" gives
// "/users/{id}".
func route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

// Transport traces outgoing requests (client spans, trace context and
// baggage injected) and carries the tenant of the request's context, as
// the baggage member tenant.id and in tenancy's header, so the next
// service knows whose call it is. base defaults to http.DefaultTransport.
func Transport(base http.RoundTripper, opts HTTPOptions) http.RoundTripper {
	return tenantBaggage{otelhttp.NewTransport(&tenancy.Transport{Base: base}, opts.otelhttp()...)}
}

// tenantBaggage adds the context's tenant to its baggage.
type tenantBaggage struct{ next http.RoundTripper }

func (t tenantBaggage) RoundTrip(req *http.Request) (*http.Response, error) {
	if ctx, err := tenancy.ContextWithBaggage(req.Context()); err == nil && ctx != req.Context() {
		req = req.WithContext(ctx)
	}
	return t.next.RoundTrip(req)
}
