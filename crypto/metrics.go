package crypto

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the keyring's OpenTelemetry instruments:
//
//	saaskit.crypto.kms.calls       root key calls, by operation and error
//	saaskit.crypto.cache.lookups   key cache lookups, by cache and hit
//	saaskit.crypto.failures        failed encrypts and decrypts, by operation
//
// Cache lookups happen on every message, so they are plain atomic
// counters that an observable counter reports at collection time.
type metrics struct {
	kms      metric.Int64Counter
	failures metric.Int64Counter
	lookups  map[cacheKey]*atomic.Int64
	reg      metric.Registration
}

type cacheKey struct {
	cache string
	hit   bool
}

var cacheNames = []string{"kek", "dek", string(KindDeterministic), string(KindIndex), string(KindStreaming)}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter("github.com/saaskit/saaskit/crypto")
	m := &metrics{lookups: map[cacheKey]*atomic.Int64{}}
	for _, c := range cacheNames {
		m.lookups[cacheKey{c, true}] = new(atomic.Int64)
		m.lookups[cacheKey{c, false}] = new(atomic.Int64)
	}
	var err error
	if m.kms, err = meter.Int64Counter("saaskit.crypto.kms.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls to the root key in the KMS.")); err != nil {
		return nil, fmt.Errorf("crypto metrics: %w", err)
	}
	if m.failures, err = meter.Int64Counter("saaskit.crypto.failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Encryptions and decryptions that failed.")); err != nil {
		return nil, fmt.Errorf("crypto metrics: %w", err)
	}
	lookups, err := meter.Int64ObservableCounter("saaskit.crypto.cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Key cache lookups; hit tells hits from misses."))
	if err != nil {
		return nil, fmt.Errorf("crypto metrics: %w", err)
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for k, n := range m.lookups {
			o.ObserveInt64(lookups, n.Load(), metric.WithAttributes(attribute.String("cache", k.cache), attribute.Bool("hit", k.hit)))
		}
		return nil
	}, lookups)
	if err != nil {
		return nil, fmt.Errorf("crypto metrics: %w", err)
	}
	return m, nil
}

var (
	attrEncrypt = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", "encrypt")))
	attrDecrypt = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", "decrypt")))
)

func (m *metrics) kmsCall(ctx context.Context, op string, err error) {
	m.kms.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", op), attribute.Bool("error", err != nil)))
}

func (m *metrics) cache(_ context.Context, cache string, hit bool) {
	if n := m.lookups[cacheKey{cache, hit}]; n != nil {
		n.Add(1)
	}
}

func (m *metrics) failure(ctx context.Context, op string) {
	if op == "encrypt" {
		m.failures.Add(ctx, 1, attrEncrypt)
		return
	}
	m.failures.Add(ctx, 1, attrDecrypt)
}
