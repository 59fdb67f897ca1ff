package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// newTelemetryFixture is a delivery fixture whose dispatcher reports to
// a span recorder and a manual metric reader.
func newTelemetryFixture(t *testing.T) (*deliveryFixture, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	f := newDeliveryFixture(t)
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	st := memstore.New()
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{
		AllowCIDRs:     loopback,
		Now:            f.clock.Now,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	require.NoError(t, err)
	f.d, f.store = d, st
	return f, spans, reader
}

func TestTelemetry(t *testing.T) {
	f, spans, reader := newTelemetryFixture(t)
	r := newReceiver(t, 503, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "msg_tel")
	f.run(t)
	await.True(t, func() bool { return r.count() == 1 })
	await.True(t, func() bool {
		return len(f.deliveries(t, "acme", webhook.StatePending)) == 1 && f.deliveries(t, "acme", webhook.StatePending)[0].Attempts == 1
	})
	f.clock.Advance(time.Hour)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)

	await.True(t, func() bool { return len(spans.Ended()) == 2 })
	first := spans.Ended()[0]
	assert.Equal(t, "saaskit.webhook.attempt", first.Name())
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range first.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	assert.Equal(t, "acme", attrs["tenant.id"].AsString())
	assert.Equal(t, "msg_tel", attrs["saaskit.webhook.message.id"].AsString())
	assert.EqualValues(t, 503, attrs["http.response.status_code"].AsInt64())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					sums[m.Name] += dp.Value
				}
			}
		}
	}
	assert.EqualValues(t, 1, sums["saaskit.webhook.messages"])
	assert.EqualValues(t, 2, sums["saaskit.webhook.attempts"])
}

// TestQueueAndBreakerGauges sends to an endpoint that fails until its
// breaker opens, then reads the gauges: the queue's depth by state, the
// age of its oldest due delivery and the breakers by state.
func TestQueueAndBreakerGauges(t *testing.T) {
	f, _, reader := newTelemetryFixture(t)
	r := newReceiver(t, 500)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	for i := range 3 {
		f.send(t, fmt.Sprint("msg_", i))
	}
	f.clock.Advance(90 * time.Second)
	gauges := collectGauges(t, reader)
	assert.EqualValues(t, 3, gauges["saaskit.webhook.queue.depth/due"])
	assert.EqualValues(t, 0, gauges["saaskit.webhook.queue.depth/scheduled"])
	assert.InDelta(t, 90, gauges["saaskit.webhook.queue.age/"], 0.001)

	f.opts.BreakerFailures = 3
	f.run(t)
	await.True(t, func() bool { return r.count() == 3 })
	await.True(t, func() bool {
		g := collectGauges(t, reader)
		return g["saaskit.webhook.queue.depth/scheduled"] == 3 && g["saaskit.webhook.breakers/open"] == 1
	})
	gauges = collectGauges(t, reader)
	assert.EqualValues(t, 0, gauges["saaskit.webhook.queue.depth/due"])
	assert.EqualValues(t, 0, gauges["saaskit.webhook.queue.age/"], "nothing due: no lag")
	assert.EqualValues(t, 0, gauges["saaskit.webhook.breakers/closed"])

	stats, err := f.d.QueueStats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3, stats.Scheduled)
}

// collectGauges reads every gauge point as "name/state" -> value.
func collectGauges(t *testing.T, reader sdkmetric.Reader) map[string]float64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch g := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range g.DataPoints {
					state, _ := dp.Attributes.Value("state")
					out[m.Name+"/"+state.AsString()] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range g.DataPoints {
					state, _ := dp.Attributes.Value("state")
					out[m.Name+"/"+state.AsString()] = dp.Value
				}
			}
		}
	}
	return out
}
