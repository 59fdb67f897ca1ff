package flags

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
)

// Exposure is one experiment event: the first time a subject saw a
// flag's variant (Event "exposure"), or a tracking event such as a
// conversion that an application sent through OpenFeature's Track.
type Exposure struct {
	Event        string
	Flag         string // for exposures
	Variant      string // for exposures
	TargetingKey string
	Value        float64        // for tracking events
	Attributes   map[string]any // for tracking events
	At           time.Time
}

// Exposures records experiment exposures for analysis: as an OpenFeature
// hook it sees every evaluation and passes on the first one of each
// (flag, variant, targeting key), within a bounded memory of recent
// ones; through Provider.Track it passes on tracking events.
type Exposures struct {
	sink func(Exposure)
	now  func() time.Time
	seen *lru.Cache[exposureKey, struct{}]
	openfeature.UnimplementedHook
}

type exposureKey struct{ flag, variant, subject string }

// NewExposures returns Exposures that remembers up to limit recent
// exposures (default 100,000) to deduplicate, and calls sink with each
// new one; sink must be safe for concurrent use.
func NewExposures(limit int, sink func(Exposure)) *Exposures {
	if limit <= 0 {
		limit = 100_000
	}
	seen, _ := lru.New[exposureKey, struct{}](limit) // fails only for limit <= 0
	return &Exposures{sink: sink, now: time.Now, seen: seen}
}

// Record passes on an exposure unless it was recorded recently; it
// reports whether it did.
func (x *Exposures) Record(flag, variant, targetingKey string) bool {
	if variant == "" || targetingKey == "" {
		return false // the default served, or nobody to attribute it to
	}
	if ok, _ := x.seen.ContainsOrAdd(exposureKey{flag, variant, targetingKey}, struct{}{}); ok {
		return false
	}
	x.sink(Exposure{Event: "exposure", Flag: flag, Variant: variant, TargetingKey: targetingKey, At: x.now()})
	return true
}

// After implements openfeature.Hook: each evaluation is an exposure.
func (x *Exposures) After(_ context.Context, hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) error {
	x.Record(hc.FlagKey(), d.Variant, hc.EvaluationContext().TargetingKey())
	return nil
}

func (x *Exposures) track(_ context.Context, event, targetingKey string, _ map[string]any, v float64, attrs map[string]any) {
	x.sink(Exposure{Event: event, TargetingKey: targetingKey, Value: v, Attributes: attrs, At: x.now()})
}

// OTelHook is an OpenFeature hook that emits an OpenTelemetry log event
// "feature_flag.evaluation" per evaluation, with the attributes of the
// OpenTelemetry semantic conventions for feature flags (key, provider,
// variant or value, reason, error type and message, context id).
type OTelHook struct {
	logger log.Logger
	openfeature.UnimplementedHook
}

// NewOTelHook returns an OTelHook logging through lp (nil: the global
// LoggerProvider).
func NewOTelHook(lp log.LoggerProvider) *OTelHook {
	if lp == nil {
		lp = otel.GetLoggerProvider()
	}
	return &OTelHook{logger: lp.Logger("github.com/saaskit/saaskit/flags")}
}

// Finally implements openfeature.Hook.
func (h *OTelHook) Finally(ctx context.Context, hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) {
	ev := telemetry.CreateEvaluationEvent(hc, d)
	var r log.Record
	r.SetEventName(ev.Name)
	r.SetTimestamp(time.Now())
	r.SetSeverity(log.SeverityInfo)
	if d.ErrorCode != "" {
		r.SetSeverity(log.SeverityWarn)
	}
	for k, v := range ev.Attributes {
		r.AddAttributes(logAttribute(k, v))
	}
	h.logger.Emit(ctx, r)
}

// logAttribute converts an event attribute.
func logAttribute(k string, v any) attribute.KeyValue {
	switch t := v.(type) {
	case string:
		return attribute.String(k, t)
	case bool:
		return attribute.Bool(k, t)
	case int:
		return attribute.Int(k, t)
	case int64:
		return attribute.Int64(k, t)
	case float64:
		return attribute.Float64(k, t)
	}
	return attribute.String(k, fmt.Sprint(v))
}
