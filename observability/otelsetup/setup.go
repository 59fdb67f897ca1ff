// Package otelsetup configures OpenTelemetry for a process: tracer,
// meter and logger providers with the service's resource, exporters
// chosen by the standard OTEL_* environment variables (OTLP over gRPC
// or HTTP, the console, or none), W3C propagation and error-keeping
// sampling. It is apart from package observability because the OTLP
// exporters bring gRPC and Prometheus with them: a service that wants
// only observability's log handler or HTTP middleware does not build
// them.
package otelsetup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/saaskit/saaskit/observability"
)

// Exporter names, as in the OTEL_*_EXPORTER environment variables.
const (
	ExporterOTLP   = "otlp"    // OTLP over gRPC or HTTP, per OTEL_EXPORTER_OTLP_PROTOCOL
	ExporterStdout = "console" // pretty JSON on Options.Writer, for development
	ExporterNone   = "none"    // nothing exported: tests
)

// Options configure Setup.
type Options struct {
	// ServiceName is service.name; OTEL_SERVICE_NAME overrides it.
	// Required unless that variable is set.
	ServiceName string
	// ServiceVersion is service.version. Default: none.
	ServiceVersion string
	// Environment is deployment.environment.name ("production",
	// "staging"). Default: none.
	Environment string
	// Exporter is used for each signal whose OTEL_TRACES_EXPORTER,
	// OTEL_METRICS_EXPORTER or OTEL_LOGS_EXPORTER is unset: ExporterOTLP,
	// ExporterStdout or ExporterNone. Default: ExporterOTLP when
	// OTEL_EXPORTER_OTLP_ENDPOINT is set, else ExporterNone, so a process
	// without configuration exports nothing.
	Exporter string
	// Writer receives console output. Default os.Stdout.
	Writer io.Writer
	// Sampling configures which traces are kept. The zero value keeps
	// every trace.
	Sampling Sampling
	// MetricInterval is how often console metrics are written. Default
	// 60s. OTLP follows OTEL_METRIC_EXPORT_INTERVAL.
	MetricInterval time.Duration
}

// Sampling keeps every trace that holds an error and Ratio of the others.
type Sampling struct {
	// Ratio of traces without errors to keep, 0 to 1. Zero means 1 (keep
	// everything) unless KeepNone is set.
	Ratio float64
	// KeepNone makes Ratio 0 mean no trace without errors.
	KeepNone bool
	// Buffer bounds the error-keeping buffer (see
	// observability.NewErrorKeeper).
	Buffer observability.BufferOptions
}

// ErrAlreadySetup means Setup already ran: it runs once per process.
var ErrAlreadySetup = errors.New("otelsetup: Setup already ran in this process")

// ErrInvalidOptions means Setup's options or environment are invalid.
var ErrInvalidOptions = errors.New("otelsetup: invalid configuration")

var setupDone atomic.Bool

// Setup configures OpenTelemetry for the process: tracer, meter and
// logger providers with the service's resource, exporters chosen by the
// standard OTEL_* environment variables (or Options.Exporter), W3C trace
// context and baggage propagation, and the error-keeping sampler. It
// installs them as the globals every saaskit package and otelhttp use,
// and returns the function that flushes and stops them at exit. Setup
// runs once per process; a second call returns ErrAlreadySetup.
//
// Exporting never blocks the application: spans, metrics and logs are
// batched in bounded queues and dropped when an exporter falls behind.
func Setup(ctx context.Context, opts Options) (shutdown func(context.Context) error, err error) {
	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Writer == nil {
		opts.Writer = os.Stdout
	}
	if opts.Sampling.Ratio < 0 || opts.Sampling.Ratio > 1 {
		return nil, fmt.Errorf("%w: sampling ratio %v is not between 0 and 1", ErrInvalidOptions, opts.Sampling.Ratio)
	}
	fallback := opts.Exporter
	if fallback == "" {
		fallback = ExporterNone
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
			fallback = ExporterOTLP
		}
	}
	switch fallback {
	case ExporterOTLP, ExporterStdout, ExporterNone:
	default:
		return nil, fmt.Errorf("%w: exporter %q: want %q, %q or %q", ErrInvalidOptions, fallback, ExporterOTLP, ExporterStdout, ExporterNone)
	}
	if !setupDone.CompareAndSwap(false, true) {
		return nil, ErrAlreadySetup
	}
	defer func() {
		if err != nil {
			setupDone.Store(false)
		}
	}()

	spans, err := spanExporter(ctx, fallback, opts.Writer)
	if err != nil {
		return nil, err
	}
	reader, err := metricReader(ctx, fallback, opts)
	if err != nil {
		shutdownAll(ctx, spans, nil)
		return nil, err
	}
	logs, err := logExporter(ctx, fallback, opts.Writer)
	if err != nil {
		shutdownAll(ctx, spans, reader)
		return nil, err
	}

	ratio := opts.Sampling.Ratio
	if ratio == 0 && !opts.Sampling.KeepNone {
		ratio = 1
	}
	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if spans != nil {
		traceOpts = append(traceOpts,
			sdktrace.WithSampler(observability.ErrorKeepingSampler(ratio)),
			sdktrace.WithSpanProcessor(observability.NewErrorKeeper(sdktrace.NewBatchSpanProcessor(spans), opts.Sampling.Buffer)))
	} else {
		traceOpts = append(traceOpts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(traceOpts...)
	metricOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if reader != nil {
		metricOpts = append(metricOpts, sdkmetric.WithReader(reader))
	}
	mp := sdkmetric.NewMeterProvider(metricOpts...)
	logOpts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if logs != nil {
		logOpts = append(logOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(logs)))
	}
	lp := sdklog.NewLoggerProvider(logOpts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetLoggerProvider(lp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	return func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx), lp.Shutdown(ctx))
	}, nil
}

// newResource describes the service; the OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME variables win over the options.
func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	if opts.ServiceName == "" && os.Getenv("OTEL_SERVICE_NAME") == "" {
		return nil, fmt.Errorf("%w: ServiceName is required (or OTEL_SERVICE_NAME)", ErrInvalidOptions)
	}
	attrs := []resource.Option{resource.WithAttributes(semconv.ServiceName(opts.ServiceName))}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(opts.ServiceVersion)))
	}
	if opts.Environment != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.DeploymentEnvironmentName(opts.Environment)))
	}
	attrs = append(attrs, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	res, err := resource.New(ctx, attrs...)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("%w: resource: %w", ErrInvalidOptions, err)
	}
	return res, nil
}

// chosen returns the exporter an environment variable names, or the
// fallback.
func chosen(variable, fallback string) string {
	if v := strings.TrimSpace(os.Getenv(variable)); v != "" {
		return v
	}
	return fallback
}

func spanExporter(ctx context.Context, fallback string, w io.Writer) (sdktrace.SpanExporter, error) {
	switch chosen("OTEL_TRACES_EXPORTER", fallback) {
	case ExporterStdout:
		return stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterNone:
		return nil, nil
	}
	e, err := autoexport.NewSpanExporter(ctx) // otlp, or what the variable names
	if err != nil {
		return nil, fmt.Errorf("%w: OTEL_TRACES_EXPORTER: %w", ErrInvalidOptions, err)
	}
	return e, nil
}

func metricReader(ctx context.Context, fallback string, opts Options) (sdkmetric.Reader, error) {
	switch chosen("OTEL_METRICS_EXPORTER", fallback) {
	case ExporterStdout:
		e, err := stdoutmetric.New(stdoutmetric.WithWriter(opts.Writer))
		if err != nil {
			return nil, err
		}
		var interval []sdkmetric.PeriodicReaderOption
		if opts.MetricInterval > 0 {
			interval = append(interval, sdkmetric.WithInterval(opts.MetricInterval))
		}
		return sdkmetric.NewPeriodicReader(e, interval...), nil
	case ExporterNone:
		return nil, nil
	}
	r, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: OTEL_METRICS_EXPORTER: %w", ErrInvalidOptions, err)
	}
	return r, nil
}

func logExporter(ctx context.Context, fallback string, w io.Writer) (sdklog.Exporter, error) {
	switch chosen("OTEL_LOGS_EXPORTER", fallback) {
	case ExporterStdout:
		return stdoutlog.New(stdoutlog.WithWriter(w))
	case ExporterNone:
		return nil, nil
	}
	e, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: OTEL_LOGS_EXPORTER: %w", ErrInvalidOptions, err)
	}
	return e, nil
}

// shutdownAll stops exporters made before a later one failed.
func shutdownAll(ctx context.Context, spans sdktrace.SpanExporter, reader sdkmetric.Reader) {
	if spans != nil {
		_ = spans.Shutdown(ctx)
	}
	if reader != nil {
		_ = reader.Shutdown(ctx)
	}
}
