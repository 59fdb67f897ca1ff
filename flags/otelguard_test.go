package flags_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/saaskit/saaskit/flags"
)

// TestOTelMetricGuardsOnRecordedMetrics: a guard reads the error ratio
// and mean duration the application records through OpenTelemetry with
// the flag's variant as an attribute, counting from its first reading
// of a step.
func TestOTelMetricGuardsOnRecordedMetrics(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("app")
	requests, err := meter.Int64Counter("app.requests")
	require.NoError(t, err)
	durations, err := meter.Float64Histogram("app.request.duration")
	require.NoError(t, err)
	serve := func(variant string, n, failing int, seconds float64) {
		for i := range n {
			attrs := []attribute.KeyValue{attribute.String(telemetry.FlagKey, "checkout"), attribute.String(telemetry.ResultVariantKey, variant)}
			durations.Record(ctx, seconds, metric.WithAttributes(attrs...))
			if i < failing {
				attrs = append(attrs, attribute.String(telemetry.ErrorTypeKey, "500"))
			}
			requests.Add(ctx, 1, metric.WithAttributes(attrs...))
		}
	}

	errorsOf := &flags.OTelMetric{Reader: reader, Name: "app.requests"}
	latency := &flags.OTelMetric{Reader: reader, Name: "app.request.duration"}
	step := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	serve("on", 100, 50, 1) // before the step's first reading: not counted
	m, err := errorsOf.ErrorRatio(ctx, "checkout", "on", step)
	require.NoError(t, err)
	assert.Zero(t, m.Samples, "the first reading of a step is its baseline")
	_, err = latency.Mean(ctx, "checkout", "on", step)
	require.NoError(t, err)

	serve("on", 40, 2, 0.2)
	serve("off", 40, 0, 0.1)
	m, err = errorsOf.ErrorRatio(ctx, "checkout", "on", step)
	require.NoError(t, err)
	assert.Equal(t, flags.Measure{Value: 0.05, Samples: 40}, m)
	m, err = latency.Mean(ctx, "checkout", "on", step)
	require.NoError(t, err)
	assert.InDelta(t, 0.2, m.Value, 1e-9)
	assert.EqualValues(t, 40, m.Samples)

	// A guard over it holds, then fails, a rollout.
	g := flags.Guard{Name: "errors", Read: errorsOf.ErrorRatio, Max: 0.1, MinSamples: 20}
	m, err = g.Read(ctx, "checkout", "on", step)
	require.NoError(t, err)
	assert.LessOrEqual(t, m.Value, g.Max)
	serve("on", 40, 30, 0.2)
	m, err = g.Read(ctx, "checkout", "on", step)
	require.NoError(t, err)
	assert.Greater(t, m.Value, g.Max)

	_, err = (&flags.OTelMetric{Reader: reader, Name: "nothing.recorded"}).ErrorRatio(ctx, "checkout", "on", step)
	assert.ErrorContains(t, err, "no metric nothing.recorded", "a guard that cannot see holds the rollout, saying why")
}
