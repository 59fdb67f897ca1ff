package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/saaskit/saaskit/problem"
)

// MeteringOptions configure a Metering.
type MeteringOptions struct {
	// Period is the window a plan's limit on a metered name applies to,
	// and counters reset with. Default Monthly.
	Period Period
	// InContext are metrics whose usage in the current period Middleware
	// also reads and puts into the request context (UsageFromContext),
	// for flags targeting; the metric it counts is always there.
	// Default none.
	InContext []string
	// MeterProvider records saaskit.tenancy.usage (units added, by
	// tenant.id and saaskit.tenancy.metric) and
	// saaskit.tenancy.usage.refused (units Consume refused). Default
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Logger records failures of the store in Middleware. Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock that picks the period. Default time.Now.
	Now func() time.Time
}

// Metering counts what each tenant uses per period in a UsageStore, and
// holds it to its plan's limits. A plan limit (Plan.Limits, or a
// "limit.<name>" override) on a metered name is a limit per period: with
// Monthly periods, Limits{"api_calls": 10000} allows 10,000 API calls in
// each calendar month (UTC). Counters are kept per period and never
// reset: a new period starts a new counter.
type Metering struct {
	store    UsageStore
	ent      *Entitlements
	opts     MeteringOptions
	used     metric.Int64Counter
	refusals metric.Int64Counter
}

// NewMetering returns a Metering counting in store and limiting by ent's
// plans; a nil ent limits nothing.
func NewMetering(store UsageStore, ent *Entitlements, opts MeteringOptions) (*Metering, error) {
	if store == nil {
		return nil, fmt.Errorf("tenancy: new metering: %w", fieldErr("store", "is required"))
	}
	if !opts.Period.valid() {
		return nil, fmt.Errorf("tenancy: new metering: %w", fieldErr("period", "must be Monthly or Daily"))
	}
	for _, name := range opts.InContext {
		if !validEntitlementName(name) {
			return nil, fmt.Errorf("tenancy: new metering: %w", fieldErr("in_context", fmt.Sprintf("%q must be 1 to 64 characters of a-z, 0-9, '_', '-', '.'", name)))
		}
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metering{store: store, ent: ent, opts: opts}
	meter := opts.MeterProvider.Meter("github.com/saaskit/saaskit/tenancy")
	var err error
	if m.used, err = meter.Int64Counter("saaskit.tenancy.usage", metric.WithUnit("1"),
		metric.WithDescription("Units of a metered resource tenants used")); err != nil {
		return nil, fmt.Errorf("tenancy: new metering: %w", err)
	}
	if m.refusals, err = meter.Int64Counter("saaskit.tenancy.usage.refused", metric.WithUnit("1"),
		metric.WithDescription("Units of a metered resource refused for being over the tenant's plan limit")); err != nil {
		return nil, fmt.Errorf("tenancy: new metering: %w", err)
	}
	return m, nil
}

// UsageLimitError is Consume's refusal: it wraps ErrNotEntitled.
type UsageLimitError struct {
	Metric string
	Asked  int64     // what Consume was asked for
	Used   int64     // what the tenant used in the period before
	Limit  int64     // the tenant's limit for the period
	Plan   string    // the tenant's plan
	Period Period    // the period the limit applies to
	Reset  time.Time // when the next period, and its counter, starts
}

func (e *UsageLimitError) Error() string {
	return fmt.Sprintf("%v: %d more %s would exceed the limit of %d a %s on %s (%d used; resets %s)",
		ErrNotEntitled, e.Asked, e.Metric, e.Limit, e.Period, planName(e.Plan), e.Used, e.Reset.Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrNotEntitled) true.
func (e *UsageLimitError) Unwrap() error { return ErrNotEntitled }

// key returns the counter of the metric name for the tenant of ctx in the
// current period.
func (m *Metering) key(ctx context.Context, name string) (UsageKey, *Tenant, error) {
	t, err := FromContext(ctx)
	if err != nil {
		return UsageKey{}, nil, fmt.Errorf("tenancy: usage of %s: %w", name, err)
	}
	return UsageKey{TenantID: t.ID, Metric: name, Period: m.opts.Period, Start: m.opts.Period.Start(m.opts.Now())}, t, nil
}

// Consume counts n (0 or more) of the metric name for the tenant of ctx in the
// current period and returns its total, unless that would take the
// total over the tenant's limit on name (Entitlements.Limit): then it
// counts nothing and returns a *UsageLimitError (errors.Is
// ErrNotEntitled). A refused Consume does not count, so a tenant that
// keeps trying after its limit stays at it, and a smaller Consume may
// still fit. The check and the count are one atomic step in the store:
// replicas sharing it never let a tenant past its limit together. A
// metric without a limit is counted as by Add. Without a tenant in ctx
// it returns ErrNoTenant.
func (m *Metering) Consume(ctx context.Context, name string, n int64) (int64, error) {
	key, t, err := m.key(ctx, name)
	if err != nil {
		return 0, err
	}
	limit, limited := int64(NoUsageLimit), false
	if m.ent != nil {
		if l, ok := m.ent.Limit(t, name); ok {
			limit, limited = l, true
		}
	}
	total, added, err := m.store.AddUsage(ctx, key, n, limit)
	if err != nil {
		return 0, fmt.Errorf("tenancy: consume %s: %w", name, err)
	}
	if !added {
		m.record(ctx, m.refusals, t, name, n)
		if !limited { // only int64 overflow refuses without a limit
			return total, fmt.Errorf("tenancy: consume %s: %w", name, fieldErr("usage.n", "would overflow the counter"))
		}
		return total, &UsageLimitError{Metric: name, Asked: n, Used: total, Limit: limit,
			Plan: t.Plan, Period: m.opts.Period, Reset: m.opts.Period.Next(key.Start)}
	}
	m.record(ctx, m.used, t, name, n)
	return total, nil
}

// record adds n to counter, with the tenant's ID and the metric name as
// attributes: building them costs more than the count itself, so only
// when the counter is recorded.
func (m *Metering) record(ctx context.Context, counter metric.Int64Counter, t *Tenant, name string, n int64) {
	if counter.Enabled(ctx) {
		counter.Add(ctx, n, metric.WithAttributes(attribute.String(AttrKey, t.ID), attribute.String("saaskit.tenancy.metric", name)))
	}
}

// Add counts n (0 or more) of the metric name for the tenant of ctx in the
// current period whatever its limit (usage billed as overage rather
// than refused), and returns the total.
func (m *Metering) Add(ctx context.Context, name string, n int64) (int64, error) {
	key, t, err := m.key(ctx, name)
	if err != nil {
		return 0, err
	}
	total, added, err := m.store.AddUsage(ctx, key, n, NoUsageLimit)
	if err == nil && !added {
		err = fieldErr("usage.n", "would overflow the counter")
	}
	if err != nil {
		return 0, fmt.Errorf("tenancy: add %s: %w", name, err)
	}
	m.record(ctx, m.used, t, name, n)
	return total, nil
}

// Usage returns how much of the metric name the tenant of ctx used in the
// current period.
func (m *Metering) Usage(ctx context.Context, name string) (int64, error) {
	key, _, err := m.key(ctx, name)
	if err != nil {
		return 0, err
	}
	n, err := m.store.Usage(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("tenancy: usage of %s: %w", name, err)
	}
	return n, nil
}

// Context returns ctx carrying (WithUsage) the current period's usage
// of each of metrics by the tenant of ctx, for flags targeting.
func (m *Metering) Context(ctx context.Context, metrics ...string) (context.Context, error) {
	usage := make(map[string]int64, len(metrics))
	for _, name := range metrics {
		n, err := m.Usage(ctx, name)
		if err != nil {
			return ctx, err
		}
		usage[name] = n
	}
	return WithUsage(ctx, usage), nil
}

// Middleware returns a middleware that consumes one of the metric name
// per request (it runs after the resolution Middleware, whose tenant it
// reads) and puts the tenant's usage of it, and of
// MeteringOptions.InContext, into the request context
// (UsageFromContext). A request over the tenant's limit gets 429
// problem+json, with Retry-After set to the start of the next period. A
// request without a tenant passes uncounted. When the store fails the
// request gets 503: a counter that cannot be kept is not skipped.
//
// name is checked here, so a misspelt metric fails at start-up rather
// than on every request: it must be a valid entitlement name and, when
// the Metering has Entitlements, a limit of at least one of their
// plans.
func (m *Metering) Middleware(name string) (func(http.Handler) http.Handler, error) {
	if !validEntitlementName(name) {
		return nil, fmt.Errorf("tenancy: metering middleware: %w", fieldErr("metric", fmt.Sprintf("%q must be 1 to 64 characters of a-z, 0-9, '_', '-', '.'", name)))
	}
	if m.ent != nil && !m.ent.limited(name) {
		return nil, fmt.Errorf("tenancy: metering middleware: %w", fieldErr("metric", fmt.Sprintf("%q is a limit of no plan; they limit %q", name, m.ent.limitNames())))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			t, err := FromContext(ctx)
			if err != nil {
				next.ServeHTTP(w, r)
				return
			}
			total, err := m.Consume(ctx, name, 1)
			var over *UsageLimitError
			if errors.As(err, &over) {
				secs := max(int64(math.Ceil(over.Reset.Sub(m.opts.Now()).Seconds())), 1)
				w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
				problem.Write(w, problem.Details{Status: http.StatusTooManyRequests,
					Detail: fmt.Sprintf("tenant %q used its %d %s for this %s; more from %s",
						t.Slug, over.Limit, name, m.opts.Period, over.Reset.Format(time.RFC3339))})
				return
			}
			if err == nil {
				ctx, err = m.Context(WithUsage(ctx, map[string]int64{name: total}), m.opts.InContext...)
			}
			if err != nil {
				m.opts.Logger.ErrorContext(ctx, "tenancy usage store failed",
					slog.String(AttrKey, t.ID), slog.String("saaskit.tenancy.metric", name), slog.String("error", err.Error()))
				problem.Write(w, problem.Details{Status: http.StatusServiceUnavailable, Detail: "usage could not be counted; retry later"})
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}, nil
}

// UsageReport is where a tenant stands on a metered name in the current
// period, as a tenant's usage page or API shows it.
type UsageReport struct {
	Metric string `json:"metric"`
	Used   int64  `json:"used"`
	// Limit is the tenant's limit for the period; nil when it has none.
	Limit *int64 `json:"limit"`
	// Remaining is what the tenant may still use, 0 or more; nil when
	// it has no limit.
	Remaining *int64    `json:"remaining"`
	Period    string    `json:"period"` // "month" or "day"
	Start     time.Time `json:"period_start"`
	Reset     time.Time `json:"resets_at"` // the next period's start
}

// Report returns the tenant of ctx's usage of the metric name in the
// current period, with its limit (Entitlements.Limit). Without a tenant
// in ctx it returns ErrNoTenant.
func (m *Metering) Report(ctx context.Context, name string) (*UsageReport, error) {
	key, t, err := m.key(ctx, name)
	if err != nil {
		return nil, err
	}
	used, err := m.store.Usage(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("tenancy: usage of %s: %w", name, err)
	}
	rep := &UsageReport{Metric: name, Used: used, Period: m.opts.Period.String(), Start: key.Start, Reset: m.opts.Period.Next(key.Start)}
	if m.ent != nil {
		if limit, ok := m.ent.Limit(t, name); ok {
			remaining := max(limit-used, 0)
			rep.Limit, rep.Remaining = &limit, &remaining
		}
	}
	return rep, nil
}

// planName names plan p in a message.
func planName(p string) string {
	if p == "" {
		return "the default plan"
	}
	return "plan " + strconv.Quote(p)
}
