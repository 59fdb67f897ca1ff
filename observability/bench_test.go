package observability_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/saaskit/saaskit/observability"
	"github.com/saaskit/saaskit/tenancy"
)

// BenchmarkMiddlewareStack compares, on the same handler that logs one
// line, bare otelhttp (the limit) with the full stack: Middleware with
// routes, tenant resolution recorded on the span, and log correlation.
// Both trace every request into a discarding exporter and record
// metrics.
func BenchmarkMiddlewareStack(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	plainLog := slog.New(slog.NewJSONHandler(io.Discard, nil))
	richLog := slog.New(observability.LogHandler(slog.NewJSONHandler(io.Discard, nil), observability.LogOptions{}))
	handler := func(logger *slog.Logger) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			logger.InfoContext(r.Context(), "served", "path", r.URL.Path)
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}
	bare := http.NewServeMux()
	bare.Handle("GET /api/users/{id}", handler(plainLog))
	resolve := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{headerResolver(&testing.T{})}})
	full := http.NewServeMux()
	full.Handle("GET /api/users/{id}", resolve(handler(richLog)))

	for name, h := range map[string]http.Handler{
		"bare-otelhttp": otelhttp.NewHandler(bare, "http.server", otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp)),
		"full-stack":    observability.Middleware(observability.HTTPOptions{TracerProvider: tp, MeterProvider: mp})(full),
	} {
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/api/users/42", nil)
			r.Header.Set(tenancy.DefaultHeader, "acme")
			w := &discardWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				h.ServeHTTP(w, r)
			}
		})
	}
	_ = tp.Shutdown(context.Background())
}

type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkSampler starts and ends a trace of a root and three children
// at a 10% ratio: OpenTelemetry's ParentBased(TraceIDRatioBased), which
// does not record the other 90%, against error keeping, which records
// every span to keep the traces that fail.
func BenchmarkSampler(b *testing.B) {
	for name, tp := range map[string]*sdktrace.TracerProvider{
		"parentbased-ratio": sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))),
			sdktrace.WithBatcher(tracetest.NewNoopExporter())),
		"error-keeping": sdktrace.NewTracerProvider(
			sdktrace.WithSampler(observability.ErrorKeepingSampler(0.1)),
			sdktrace.WithSpanProcessor(observability.NewErrorKeeper(sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()), observability.BufferOptions{}))),
	} {
		b.Run(name, func(b *testing.B) {
			tracer := tp.Tracer("bench")
			b.ReportAllocs()
			for b.Loop() {
				ctx, root := tracer.Start(context.Background(), "root")
				for range 3 {
					_, c := tracer.Start(ctx, "child")
					c.End()
				}
				root.End()
			}
		})
		_ = tp.Shutdown(context.Background())
	}
}
