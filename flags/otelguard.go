package flags

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// OTelMetric reads a guard's metric from an OpenTelemetry instrument the
// application records with the flag's key and variant as attributes
// (feature_flag.key and feature_flag.result.variant, OpenTelemetry's
// names), through a ManualReader registered with its MeterProvider
// beside its exporter (sdkmetric.WithReader). The instruments are
// cumulative, the SDK's default: a measure since a time is the increase
// since the first reading at or after it, so a step's first Read has no
// samples and holds the rollout. Every replica records its own; a
// Guardian reads its own process's.
type OTelMetric struct {
	Reader *sdkmetric.ManualReader
	// Name is the instrument: a counter of requests for ErrorRatio, a
	// histogram (of durations, say) for Mean.
	Name string
	// Bad tells the failed requests among a counter's data points by
	// their attributes, for ErrorRatio; default: those with an
	// error.type attribute.
	Bad func(attribute.Set) bool

	mu        sync.Mutex
	baselines map[otelBaselineKey]otelTotals
}

type otelBaselineKey struct {
	flag, variant string
	since         time.Time
}

// otelTotals are cumulative sums of the instrument's points of one flag
// and variant: the requests (or observations) and the bad ones (or the
// observations' sum).
type otelTotals struct{ count, other float64 }

// ErrorRatio is a Guard's Read: the share of the variant's requests, as
// the counter Name counts them, that were Bad since a time.
func (m *OTelMetric) ErrorRatio(ctx context.Context, flag, variant string, since time.Time) (Measure, error) {
	return m.measure(ctx, flag, variant, since)
}

// Mean is a Guard's Read: the mean of the variant's observations of the
// histogram Name since a time (seconds, for request durations).
func (m *OTelMetric) Mean(ctx context.Context, flag, variant string, since time.Time) (Measure, error) {
	return m.measure(ctx, flag, variant, since)
}

// measure is the increase of the totals since the first reading at or
// after since: other over count, of count samples.
func (m *OTelMetric) measure(ctx context.Context, flag, variant string, since time.Time) (Measure, error) {
	now, err := m.totals(ctx, flag, variant)
	if err != nil {
		return Measure{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := otelBaselineKey{flag, variant, since}
	base, ok := m.baselines[k]
	if !ok || now.count < base.count { // a new step, or the process restarted its counts
		if m.baselines == nil {
			m.baselines = map[otelBaselineKey]otelTotals{}
		}
		for old := range m.baselines {
			if old.flag == flag && old.variant == variant {
				delete(m.baselines, old)
			}
		}
		m.baselines[k] = now
		return Measure{}, nil
	}
	delta := otelTotals{count: now.count - base.count, other: now.other - base.other}
	if delta.count <= 0 {
		return Measure{}, nil
	}
	return Measure{Value: delta.other / delta.count, Samples: int64(delta.count)}, nil
}

// totals collects the instrument and sums its points of flag's variant.
func (m *OTelMetric) totals(ctx context.Context, flag, variant string) (otelTotals, error) {
	var rm metricdata.ResourceMetrics
	if err := m.Reader.Collect(ctx, &rm); err != nil {
		return otelTotals{}, fmt.Errorf("flags: read metric %s: %w", m.Name, err)
	}
	bad := m.Bad
	if bad == nil {
		bad = func(s attribute.Set) bool { return s.HasValue(attribute.Key(telemetry.ErrorTypeKey)) }
	}
	ours := func(s attribute.Set) bool {
		k, okKey := s.Value(attribute.Key(telemetry.FlagKey))
		v, okVariant := s.Value(attribute.Key(telemetry.ResultVariantKey))
		return okKey && okVariant && k.AsString() == flag && v.AsString() == variant
	}
	var t otelTotals
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != m.Name {
				continue
			}
			found = true
			switch data := mt.Data.(type) {
			case metricdata.Sum[int64]:
				sumPoints(data.DataPoints, ours, bad, &t)
			case metricdata.Sum[float64]:
				sumPoints(data.DataPoints, ours, bad, &t)
			case metricdata.Histogram[float64]:
				histogramPoints(data.DataPoints, ours, &t)
			case metricdata.Histogram[int64]:
				histogramPoints(data.DataPoints, ours, &t)
			default:
				return otelTotals{}, fmt.Errorf("flags: metric %s is a %T, not a counter or a histogram", m.Name, mt.Data)
			}
		}
	}
	if !found {
		return otelTotals{}, fmt.Errorf("flags: no metric %s has been recorded", m.Name)
	}
	return t, nil
}

func sumPoints[N int64 | float64](points []metricdata.DataPoint[N], ours, bad func(attribute.Set) bool, t *otelTotals) {
	for _, p := range points {
		if ours(p.Attributes) {
			t.count += float64(p.Value)
			if bad(p.Attributes) {
				t.other += float64(p.Value)
			}
		}
	}
}

func histogramPoints[N int64 | float64](points []metricdata.HistogramDataPoint[N], ours func(attribute.Set) bool, t *otelTotals) {
	for _, p := range points {
		if ours(p.Attributes) {
			t.count += float64(p.Count)
			t.other += float64(p.Sum)
		}
	}
}
