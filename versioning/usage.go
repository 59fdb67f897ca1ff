package versioning

import (
	"context"

	"github.com/saaskit/saaskit/tenancy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// usageKey is a (version, tenant) pair of the usage metric.
type usageKey struct{ version, tenant string }

// maxUsageKeys bounds the cache of the usage metric's attribute sets.
const maxUsageKeys = 10_000

// count records a request in the usage metric. The attribute set of each
// (version, tenant) is built once and cached.
func (a *API) count(ctx context.Context, v Version) {
	k := usageKey{version: v.String()}
	if t, err := tenancy.FromContext(ctx); err == nil {
		k.tenant = t.ID
	}
	if opt, ok := a.usage.Load(k); ok {
		a.requests.Add(ctx, 1, opt.(metric.MeasurementOption))
		return
	}
	attrs := []attribute.KeyValue{attribute.String("saaskit.versioning.version", k.version)}
	if k.tenant != "" {
		attrs = append(attrs, attribute.String(tenancy.AttrKey, k.tenant))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	if a.usageN.Load() < maxUsageKeys {
		if _, loaded := a.usage.LoadOrStore(k, opt); !loaded {
			a.usageN.Add(1)
		}
	}
	a.requests.Add(ctx, 1, opt)
}
