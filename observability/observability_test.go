package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/observability"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// hangingExporter never finishes an export until its context ends.
type hangingExporter struct{}

func (hangingExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hangingExporter) Shutdown(context.Context) error { return nil }

// TestHangingExporterNeverBlocksRequests serves requests traced into an
// exporter that hangs: they finish promptly, and shutdown respects its
// deadline.
func TestHangingExporterNeverBlocksRequests(t *testing.T) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(observability.ErrorKeepingSampler(1)),
		sdktrace.WithSpanProcessor(observability.NewErrorKeeper(
			sdktrace.NewBatchSpanProcessor(hangingExporter{}, sdktrace.WithMaxQueueSize(64), sdktrace.WithExportTimeout(time.Hour)),
			observability.BufferOptions{})),
	)
	h := observability.Middleware(observability.HTTPOptions{TracerProvider: tp, MeterProvider: sdkmetric.NewMeterProvider()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	start := time.Now()
	for range 5000 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		require.Equal(t, 200, rec.Code)
	}
	assert.Less(t, time.Since(start), 10*time.Second, "requests were not held up by the exporter")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_ = tp.Shutdown(ctx)
	assert.Less(t, time.Since(start), 5*time.Second, "shutdown gives up at its deadline")
}

// TestErrorKeepingSamplerKeepsEveryErrorTrace starts thousands of
// traces, a tenth of them failing in a child span, with a 10% ratio:
// every failing trace is exported whole, and about 10% of the others.
func TestErrorKeepingSamplerKeepsEveryErrorTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(observability.ErrorKeepingSampler(0.1)),
		sdktrace.WithSpanProcessor(observability.NewErrorKeeper(sdktrace.NewSimpleSpanProcessor(exp), observability.BufferOptions{})),
	)
	tracer := tp.Tracer("test")
	const traces = 5000
	failing := map[trace.TraceID]bool{}
	for i := range traces {
		ctx, root := tracer.Start(context.Background(), "root")
		for c := range 3 {
			_, child := tracer.Start(ctx, fmt.Sprint("child-", c))
			if i%10 == 0 && c == 1 {
				child.SetStatus(codes.Error, "boom")
				failing[root.SpanContext().TraceID()] = true
			}
			child.End()
		}
		root.End()
	}
	spansPer := map[trace.TraceID]int{}
	for _, s := range exp.GetSpans() {
		spansPer[s.SpanContext.TraceID()]++
		assert.True(t, s.SpanContext.IsSampled(), "exported spans say they are sampled")
	}
	for id := range failing {
		assert.Equal(t, 4, spansPer[id], "a failing trace is kept whole")
	}
	others := len(spansPer) - len(failing)
	assert.InDelta(t, 0.10, float64(others)/float64(traces-len(failing)), 0.02, "the ratio of the rest")
	for id, n := range spansPer {
		assert.Equal(t, 4, n, "trace %s", id)
	}
}

func TestErrorKeeperBounds(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(observability.ErrorKeepingSampler(0)),
		sdktrace.WithSpanProcessor(observability.NewErrorKeeper(sdktrace.NewSimpleSpanProcessor(exp), observability.BufferOptions{MaxTraces: 2, MaxSpans: 3})),
	)
	tracer := tp.Tracer("test")
	// A trace of ten spans keeps its first three when it fails.
	ctx, root := tracer.Start(context.Background(), "root")
	for range 10 {
		_, c := tracer.Start(ctx, "child")
		c.End()
	}
	root.SetStatus(codes.Error, "boom")
	root.End()
	assert.Len(t, exp.GetSpans(), 3)

	// With two traces open, a third is not held: its failing span is
	// exported alone.
	exp.Reset()
	ctxA, a := tracer.Start(context.Background(), "a")
	ctxB, b := tracer.Start(context.Background(), "b")
	_, ca := tracer.Start(ctxA, "a-child")
	ca.End()
	_, cb := tracer.Start(ctxB, "b-child")
	cb.End()
	ctxC, c := tracer.Start(context.Background(), "c")
	_, cc := tracer.Start(ctxC, "c-child")
	cc.SetStatus(codes.Error, "lost")
	cc.End()
	c.End()
	a.SetStatus(codes.Error, "kept")
	a.End()
	b.End()
	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		names[s.Name] = true
	}
	assert.Equal(t, map[string]bool{"a": true, "a-child": true, "c-child": true}, names,
		"c was not held, so only its failing span itself is kept; b did not fail")
}

func TestLogHandlerCorrelatesAndRedacts(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(observability.LogHandler(slog.NewJSONHandler(&buf, nil), observability.LogOptions{}))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	ctx = tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "acme"})
	logger.With("api_key", "sk_live_123").InfoContext(ctx, "called",
		"Authorization", "Bearer abc", slog.Group("req", slog.String("X-Api-Key", "k"), slog.String("path", "/x")), "user", "ada")
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, span.SpanContext().TraceID().String(), rec["trace_id"])
	assert.Equal(t, span.SpanContext().SpanID().String(), rec["span_id"])
	assert.Equal(t, "acme", rec["tenant.id"])
	assert.Equal(t, observability.Redacted, rec["api_key"])
	assert.Equal(t, observability.Redacted, rec["Authorization"])
	assert.Equal(t, map[string]any{"X-Api-Key": observability.Redacted, "path": "/x"}, rec["req"])
	assert.Equal(t, "ada", rec["user"])
	assert.NotContains(t, buf.String(), "sk_live_123")

	buf.Reset()
	logger.Info("no span, no tenant")
	assert.NotContains(t, buf.String(), "trace_id")
	assert.NotContains(t, buf.String(), "tenant.id")
}

// TestMiddlewareNamesRoutesAndTenants: the server span is named after
// the matched route and carries the tenant resolved inside it; the
// duration metric has the route.
func TestMiddlewareNamesRoutesAndTenants(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	resolve := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{headerResolver(t)}})
	mux := http.NewServeMux()
	mux.Handle("GET /api/users/{id}", resolve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.PathValue("id")))
	})))
	h := observability.Middleware(observability.HTTPOptions{TracerProvider: tp, MeterProvider: mp})(mux)
	r := httptest.NewRequest("GET", "/api/users/42", nil)
	r.Header.Set(tenancy.DefaultHeader, "acme")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	require.Equal(t, 200, rec.Code, rec.Body.String())

	ended := spans.Ended()
	require.Len(t, ended, 1)
	assert.Equal(t, "GET /api/users/{id}", ended[0].Name())
	attrs := map[attribute.Key]string{}
	for _, kv := range ended[0].Attributes() {
		attrs[kv.Key] = kv.Value.String()
	}
	assert.Equal(t, "acme", attrs["tenant.id"])
	assert.Equal(t, "/api/users/{id}", attrs["http.route"])

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var routed bool
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "http.server.request.duration" {
				for _, dp := range h.DataPoints {
					route, _ := dp.Attributes.Value("http.route")
					routed = routed || route.AsString() == "/api/users/{id}"
				}
			}
		}
	}
	assert.True(t, routed, "the duration metric carries the route")
}

// TestTransportPropagates: the next service receives the trace context
// and the tenant, as baggage and header.
func TestTransportPropagates(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	tp := sdktrace.NewTracerProvider()
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	client := &http.Client{Transport: observability.Transport(nil, observability.HTTPOptions{TracerProvider: tp, Propagators: prop, MeterProvider: sdkmetric.NewMeterProvider()})}
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	ctx = tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "acme"})
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Contains(t, got.Get("Traceparent"), span.SpanContext().TraceID().String())
	assert.Contains(t, got.Get("Baggage"), "tenant.id=acme")
	assert.Equal(t, "acme", got.Get(tenancy.DefaultHeader))
	assert.Empty(t, req.Header.Get("Baggage"), "the caller's request is not modified")
}

// headerResolver resolves tenant acme from the tenant header.
func headerResolver(t *testing.T) tenancy.Resolver {
	t.Helper()
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	t.Cleanup(func() { reg.Close() })
	_, err := reg.Create(context.Background(), &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	hdr, err := tenancy.Header(reg, "", tenancy.ByID)
	require.NoError(t, err)
	return hdr
}

// TestErrorKeeperWaitsForEveryLocalRoot: a trace that enters the process
// twice (two calls from one upstream request) is kept when the second
// visit fails after the first succeeded, and when two run at once.
func TestErrorKeeperWaitsForEveryLocalRoot(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(observability.ErrorKeepingSampler(0)),
		sdktrace.WithSpanProcessor(observability.NewErrorKeeper(sdktrace.NewSimpleSpanProcessor(exp), observability.BufferOptions{})),
	)
	tracer := tp.Tracer("test")
	upstream := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4}, Remote: true,
	})
	remote := trace.ContextWithRemoteSpanContext(context.Background(), upstream)

	// Sequential visits: the first ends fine, the second fails.
	_, first := tracer.Start(remote, "first call")
	first.End()
	_, second := tracer.Start(remote, "second call")
	second.SetStatus(codes.Error, "boom")
	second.End()
	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		names[s.Name] = true
	}
	assert.True(t, names["second call"], "the failing visit is kept")

	// Concurrent visits: the one that ends first does not decide alone.
	exp.Reset()
	upstream2 := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}, Remote: true})
	remote2 := trace.ContextWithRemoteSpanContext(context.Background(), upstream2)
	_, a := tracer.Start(remote2, "a")
	_, b := tracer.Start(remote2, "b")
	a.End()
	assert.Empty(t, exp.GetSpans(), "undecided while b runs")
	b.SetStatus(codes.Error, "boom")
	b.End()
	assert.Len(t, exp.GetSpans(), 2, "both visits kept")
}

func TestLogHandlerRedactsLoggedHeaders(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(observability.LogHandler(slog.NewJSONHandler(&buf, nil), observability.LogOptions{}))
	logger.Info("request", "headers", http.Header{"Authorization": {"Bearer abc"}, "Accept": {"application/json"}})
	assert.NotContains(t, buf.String(), "Bearer abc")
	assert.Contains(t, buf.String(), `"Accept":"application/json"`)
}

func TestLogHandlerFollowsSlogRules(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return observability.LogHandler(slog.NewJSONHandler(&buf, nil), observability.LogOptions{})
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
		return m
	})
}

// TestLogHandlerIdsOutsideGroupsOnce: trace and tenant ids stay at the
// record's top level under a group, and tenant.id is written once when
// tenancy's LogHandler wraps it too, in either order.
func TestLogHandlerIdsOutsideGroupsOnce(t *testing.T) {
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme"})
	for name, wrap := range map[string]func(slog.Handler) slog.Handler{
		"observability over tenancy": func(h slog.Handler) slog.Handler {
			return observability.LogHandler(tenancy.LogHandler(h), observability.LogOptions{})
		},
		"tenancy over observability": func(h slog.Handler) slog.Handler {
			return tenancy.LogHandler(observability.LogHandler(h, observability.LogOptions{}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(wrap(slog.NewJSONHandler(&buf, nil))).WithGroup("http").InfoContext(ctx, "served", "status", 200, "token", "s3cret")
			var m map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &m), buf.String())
			assert.Equal(t, "acme", m["tenant.id"])
			assert.Equal(t, map[string]any{"status": float64(200), "token": observability.Redacted}, m["http"])
			assert.Equal(t, 1, strings.Count(buf.String(), "tenant.id"), buf.String())
		})
	}
}
