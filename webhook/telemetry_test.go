package webhook_test

import (
	"context"
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

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

func TestTelemetry(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	f := newDeliveryFixture(t)
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	st := memstore.New()
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{
		Now:            f.clock.Now,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	require.NoError(t, err)
	f.d, f.store = d, st
	r := newReceiver(t, 503, 200)
	f.endpoint(t, webhook.EndpointSpec{URL: r.URL})
	f.send(t, "msg_tel")
	f.run(t)
	require.Eventually(t, func() bool { return r.count() == 1 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		return len(f.deliveries(t, "acme", webhook.StatePending)) == 1 && f.deliveries(t, "acme", webhook.StatePending)[0].Attempts == 1
	}, 10*time.Second, time.Millisecond)
	f.clock.Advance(time.Hour)
	f.waitFor(t, "acme", webhook.StateSucceeded, 1)

	require.Eventually(t, func() bool { return len(spans.Ended()) == 2 }, 10*time.Second, time.Millisecond)
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
