package tenancy

import (
	"context"
	"fmt"
	"maps"
	"math"
	"time"
)

// Period is the length of a usage window, in UTC: calendar months (the
// zero value) or days.
type Period int

// Periods.
const (
	Monthly Period = iota // from midnight UTC on the first of a month to the next
	Daily                 // from midnight UTC to the next
)

// String returns "month" or "day".
func (p Period) String() string {
	switch p {
	case Monthly:
		return "month"
	case Daily:
		return "day"
	}
	return fmt.Sprintf("Period(%d)", int(p))
}

func (p Period) valid() bool { return p == Monthly || p == Daily }

// Start returns the start of the period that holds t: midnight UTC on
// the first of t's month, or of t's day.
func (p Period) Start(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	if p == Daily {
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// Next returns the start of the period after the one that holds t.
func (p Period) Next(t time.Time) time.Time {
	start := p.Start(t)
	if p == Daily {
		return start.AddDate(0, 0, 1)
	}
	return start.AddDate(0, 1, 0)
}

// UsageKey names one usage counter: how much of a metric (API calls,
// emails sent, storage GB-hours) a tenant used in one period.
type UsageKey struct {
	TenantID string
	Metric   string    // 1 to 64 characters of a-z, 0-9, '_', '-', '.', as entitlement names
	Period   Period    // Monthly or Daily
	Start    time.Time // the period's start, as Period.Start gives it
}

// Check returns a *FieldError naming what is wrong with k: an empty or
// over-long tenant ID, a metric name that is not an entitlement name, an
// unknown period, or a Start that does not begin a period. Stores call
// it before they count.
func (k UsageKey) Check() error {
	switch {
	case k.TenantID == "" || len(k.TenantID) > maxIDLen:
		return fieldErr("usage.tenant_id", fmt.Sprintf("must be 1 to %d bytes", maxIDLen))
	case !validEntitlementName(k.Metric):
		return fieldErr("usage.metric", fmt.Sprintf("%q must be 1 to 64 characters of a-z, 0-9, '_', '-', '.'", k.Metric))
	case !k.Period.valid():
		return fieldErr("usage.period", "must be Monthly or Daily")
	case !k.Start.Equal(k.Period.Start(k.Start)) || k.Start.Location() != time.UTC:
		return fieldErr("usage.start", fmt.Sprintf("%s must be the UTC start of a %s (Period.Start)", k.Start, k.Period))
	}
	return nil
}

// NoUsageLimit is the max that lets UsageStore.AddUsage add whatever
// keeps the counter within int64.
const NoUsageLimit = math.MaxInt64

// UsageStore keeps usage counters, one per tenant, metric and period.
// memstore keeps them in this process; tenancy/sqlstore in SQLite or
// PostgreSQL and tenancy/redisstore in Redis, where every replica counts
// in the same ones. Counters are the tenants' usage history: a new
// period starts new ones, and deleting a tenant (Store.Delete) leaves
// them (redisstore expires them after a retention).
// tenancytest.RunUsageStoreTests checks an adapter.
type UsageStore interface {
	// AddUsage adds n (0 or more) to the counter under key, atomically,
	// unless that would take it over max (0 or more; NoUsageLimit for
	// none): then it adds nothing and reports false. It returns the
	// counter's total after the call either way. A key that fails
	// UsageKey.Check, or a negative n or max, is ErrInvalid.
	AddUsage(ctx context.Context, key UsageKey, n, max int64) (total int64, added bool, err error)
	// Usage returns the counter under key; 0 when nothing was added.
	Usage(ctx context.Context, key UsageKey) (int64, error)
}

// CheckUsageAdd validates the arguments of UsageStore.AddUsage; stores
// call it first.
func CheckUsageAdd(key UsageKey, n, max int64) error {
	if err := key.Check(); err != nil {
		return err
	}
	if n < 0 {
		return fieldErr("usage.n", fmt.Sprintf("%d must be 0 or more", n))
	}
	if max < 0 {
		return fieldErr("usage.max", fmt.Sprintf("%d must be 0 or more", max))
	}
	return nil
}

type usageContextKey struct{}

// WithUsage returns a copy of ctx carrying usage (metric name → amount
// used in the current period) on top of any it already carries. flags
// puts it in the evaluation context as tenantUsage, so a rule can
// target tenants by their usage.
func WithUsage(ctx context.Context, usage map[string]int64) context.Context {
	merged := maps.Clone(UsageFromContext(ctx))
	if merged == nil {
		merged = make(map[string]int64, len(usage))
	}
	maps.Copy(merged, usage)
	return context.WithValue(ctx, usageContextKey{}, merged)
}

// UsageFromContext returns the usage WithUsage put into ctx, or nil.
// The map is shared: do not change it.
func UsageFromContext(ctx context.Context) map[string]int64 {
	u, _ := ctx.Value(usageContextKey{}).(map[string]int64)
	return u
}
