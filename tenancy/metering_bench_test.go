package tenancy_test

import (
	"context"
	"sync/atomic"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// Consume and its limit, a bare atomic add, run side by side: compare
// their ratio.
//
//	go test -run '^$' -bench 'AtomicAdd|Consume' -count 3 ./tenancy/

var sinkTotal int64

// BenchmarkAtomicAdd is the limit: one counter's atomic add.
func BenchmarkAtomicAdd(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		sinkTotal = n.Add(1)
	}
}

// BenchmarkConsume counts one API call of a tenant with a limit in
// memstore: the tenant from the context, its limit, the period, the
// store's check and add, and the metric (the global no-op provider, or
// the OpenTelemetry SDK's).
func BenchmarkConsume(b *testing.B) {
	ent, err := tenancy.NewEntitlements(map[string]tenancy.Plan{"pro": {Limits: map[string]int64{"api_calls": 1 << 62}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "pro"})
	for _, tc := range []struct {
		name string
		opts tenancy.MeteringOptions
	}{
		{"noop-metrics", tenancy.MeteringOptions{}},
		{"sdk-metrics", tenancy.MeteringOptions{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := tenancy.NewMetering(memstore.New(), ent, tc.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if sinkTotal, err = m.Consume(ctx, "api_calls", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
