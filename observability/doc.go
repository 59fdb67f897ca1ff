// Package observability supplies what makes a saaskit service's
// OpenTelemetry useful: logs that join traces, tenant-aware spans, HTTP
// middleware, and sampling that keeps every trace with an error.
// Setting OpenTelemetry up in one call, exporters included, is
// observability/otelsetup (apart, because the OTLP exporters bring gRPC
// and Prometheus with them); health checks are in observability/health,
// SLO burn-rate alerts in observability/slo.
//
//	shutdown, err := otelsetup.Setup(ctx, otelsetup.Options{
//		ServiceName: "billing", ServiceVersion: version, Environment: "production",
//		Sampling: otelsetup.Sampling{Ratio: 0.05}, // all error traces, 5% of the rest
//	})
//	if err != nil { ... }
//	defer shutdown(context.Background())
//	logger := slog.New(observability.LogHandler(slog.NewJSONHandler(os.Stdout, nil), observability.LogOptions{}))
//	handler := observability.Middleware(observability.HTTPOptions{})(mux)
//
// # Setup
//
// otelsetup.Setup installs global tracer, meter and logger providers with the
// service's resource and W3C propagation. Exporters follow the standard
// variables (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER,
// OTEL_LOGS_EXPORTER: otlp, console, none; OTEL_EXPORTER_OTLP_PROTOCOL:
// grpc or http/protobuf; OTEL_EXPORTER_OTLP_ENDPOINT, ...); without them
// its Options.Exporter decides, and without that nothing is exported unless
// an OTLP endpoint is configured, so tests export nothing. Exporting is
// batched in bounded queues: a slow or hanging collector never blocks a
// request.
//
// # Error-keeping sampling
//
// Head sampling decides before a trace fails. ErrorKeepingSampler and
// ErrorKeeper decide when the trace's local root span ends instead: a
// trace with any error status is exported whole, and Ratio of the others
// (chosen by trace ID, and propagated as sampled so downstream services
// agree). Memory is bounded; see BufferOptions for the limits.
//
// # Logs and HTTP
//
// LogHandler wraps any slog.Handler: records gain trace_id, span_id and
// tenant.id, and secret attributes (authorization, tokens, API keys,
// passwords, ...) are redacted at any depth. Middleware is otelhttp with
// spans named after the ServeMux route and the tenant that
// tenancy.Middleware resolves recorded as tenant.id; Transport traces
// outgoing calls and carries the tenant as baggage.
package observability
