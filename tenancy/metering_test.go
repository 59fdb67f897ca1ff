package tenancy_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// meteringT0 is in the middle of March 2026 (UTC).
var meteringT0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func newMetering(t *testing.T, opts tenancy.MeteringOptions) (*tenancy.Metering, *memstore.Store) {
	t.Helper()
	ent, err := tenancy.NewEntitlements(map[string]tenancy.Plan{
		"free": {Limits: map[string]int64{"api_calls": 3}},
		"pro":  {Limits: map[string]int64{"api_calls": 1000}},
	})
	require.NoError(t, err)
	st := memstore.New()
	m, err := tenancy.NewMetering(st, ent, opts)
	require.NoError(t, err)
	return m, st
}

func tenantCtx(id, plan string) context.Context {
	return tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: id, Slug: id, Plan: plan})
}

func TestConsumeHoldsThePlanLimit(t *testing.T) {
	clock := testclock.New(meteringT0)
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: clock.Now})
	ctx := tenantCtx("acme", "free")

	total, err := m.Consume(ctx, "api_calls", 2)
	require.NoError(t, err)
	assert.EqualValues(t, 2, total)
	_, err = m.Consume(ctx, "api_calls", 2)
	require.ErrorIs(t, err, tenancy.ErrNotEntitled, "2+2 is over free's 3")
	var over *tenancy.UsageLimitError
	require.ErrorAs(t, err, &over)
	assert.Equal(t, tenancy.UsageLimitError{Metric: "api_calls", Asked: 2, Used: 2, Limit: 3, Plan: "free",
		Period: tenancy.Monthly, Reset: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}, *over)
	assert.EqualError(t, err, `tenancy: not entitled: 2 more api_calls would exceed the limit of 3 a month on plan "free" (2 used; resets 2026-04-01T00:00:00Z)`)

	total, err = m.Consume(ctx, "api_calls", 1)
	require.NoError(t, err, "the refused consume counted nothing, so 1 more fits")
	assert.EqualValues(t, 3, total)
	used, err := m.Usage(ctx, "api_calls")
	require.NoError(t, err)
	assert.EqualValues(t, 3, used)

	clock.Advance(18 * 24 * time.Hour) // 1 April: a new period
	used, err = m.Usage(ctx, "api_calls")
	require.NoError(t, err)
	assert.Zero(t, used)
	_, err = m.Consume(ctx, "api_calls", 3)
	require.NoError(t, err, "the limit applies per month")
}

func TestConsumeReadsOverridesAndUnlimited(t *testing.T) {
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: testclock.New(meteringT0).Now})
	raised := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "big", Plan: "free",
		Settings: map[string]string{"limit.api_calls": "10"}})
	_, err := m.Consume(raised, "api_calls", 10)
	require.NoError(t, err, "the tenant's override wins over its plan")
	_, err = m.Consume(raised, "api_calls", 1)
	require.ErrorIs(t, err, tenancy.ErrNotEntitled)

	unlimited := tenantCtx("u", "free")
	total, err := m.Consume(unlimited, "emails", 1_000_000)
	require.NoError(t, err, "no limit on emails")
	assert.EqualValues(t, 1_000_000, total)

	_, err = m.Consume(context.Background(), "api_calls", 1)
	require.ErrorIs(t, err, tenancy.ErrNoTenant)
	_, err = m.Consume(unlimited, "API calls", 1)
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = m.Consume(unlimited, "api_calls", -1)
	require.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestAddCountsPastTheLimit(t *testing.T) {
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: testclock.New(meteringT0).Now})
	ctx := tenantCtx("acme", "free")
	total, err := m.Add(ctx, "api_calls", 5)
	require.NoError(t, err, "Add counts overage")
	assert.EqualValues(t, 5, total)
	_, err = m.Consume(ctx, "api_calls", 0)
	require.ErrorIs(t, err, tenancy.ErrNotEntitled, "over the limit, nothing more fits")
}

func TestConsumeConcurrentlyKeepsTheLimit(t *testing.T) {
	m, st := newMetering(t, tenancy.MeteringOptions{Period: tenancy.Daily, Now: testclock.New(meteringT0).Now})
	ctx := tenantCtx("acme", "free")
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed, refused := 0, 0
	for range 10 {
		wg.Go(func() {
			_, err := m.Consume(ctx, "api_calls", 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				allowed++
			case errors.Is(err, tenancy.ErrNotEntitled):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 3, allowed)
	assert.Equal(t, 7, refused)
	n, err := st.Usage(context.Background(), tenancy.UsageKey{TenantID: "acme", Metric: "api_calls",
		Period: tenancy.Daily, Start: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "counted in the day's counter")
}

func TestMeteringMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: testclock.New(meteringT0).Now,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	ctx := tenantCtx("acme", "free")
	_, err := m.Consume(ctx, "api_calls", 2)
	require.NoError(t, err)
	_, err = m.Add(ctx, "api_calls", 1)
	require.NoError(t, err)
	_, err = m.Consume(ctx, "api_calls", 5)
	require.Error(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				tenant, _ := dp.Attributes.Value("tenant.id")
				name, _ := dp.Attributes.Value("saaskit.tenancy.metric")
				assert.Equal(t, "acme", tenant.AsString())
				assert.Equal(t, "api_calls", name.AsString())
				sums[mt.Name] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{"saaskit.tenancy.usage": 3, "saaskit.tenancy.usage.refused": 5}, sums)
}

func TestNewMeteringChecksOptions(t *testing.T) {
	_, err := tenancy.NewMetering(nil, nil, tenancy.MeteringOptions{})
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.NewMetering(memstore.New(), nil, tenancy.MeteringOptions{Period: 9})
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	_, err = tenancy.NewMetering(memstore.New(), nil, tenancy.MeteringOptions{InContext: []string{"Bad Name"}})
	require.ErrorIs(t, err, tenancy.ErrInvalid)

	m, err := tenancy.NewMetering(memstore.New(), nil, tenancy.MeteringOptions{})
	require.NoError(t, err)
	total, err := m.Consume(tenantCtx("acme", "free"), "api_calls", 50)
	require.NoError(t, err, "without Entitlements nothing is limited")
	assert.EqualValues(t, 50, total)
}

func TestPeriods(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 59, 0, 0, time.FixedZone("UTC-5", -5*3600)) // 1 January 04:59 UTC
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), tenancy.Monthly.Start(at))
	assert.Equal(t, time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), tenancy.Monthly.Next(at))
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), tenancy.Daily.Start(at))
	assert.Equal(t, time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), tenancy.Daily.Next(at))
	assert.Equal(t, "month", tenancy.Monthly.String())
	assert.Equal(t, "day", tenancy.Daily.String())
}

func TestMeteringMiddleware(t *testing.T) {
	clock := testclock.New(meteringT0)
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: clock.Now, InContext: []string{"emails"}})
	var seen map[string]int64
	mw, err := m.Middleware("api_calls")
	require.NoError(t, err)
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = tenancy.UsageFromContext(r.Context())
	}))
	ctx := tenantCtx("acme", "free")
	_, err = m.Add(ctx, "emails", 4)
	require.NoError(t, err)
	serve := func(ctx context.Context) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		return rec
	}
	for i := int64(1); i <= 3; i++ {
		rec := serve(ctx)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, map[string]int64{"api_calls": i, "emails": 4}, seen)
	}
	seen = nil
	rec := serve(ctx)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "1521000", rec.Header().Get("Retry-After"), "until 1 April, 00:00 UTC")
	assert.Contains(t, rec.Body.String(), `used its 3 api_calls for this month`)
	assert.Nil(t, seen, "the handler is not called")

	rec = serve(context.Background())
	assert.Equal(t, http.StatusOK, rec.Code, "no tenant: passes uncounted")
	assert.Nil(t, seen)
}

// TestMeteringMiddlewareRefusesUnknownMetric: a metric name the plans
// do not limit, or that is no valid name, is refused when the
// middleware is made, not answered 503 on each request.
func TestMeteringMiddlewareRefusesUnknownMetric(t *testing.T) {
	m, _ := newMetering(t, tenancy.MeteringOptions{})
	for _, name := range []string{"api_call", "API_CALLS", "", "api calls"} {
		mw, err := m.Middleware(name)
		require.ErrorIs(t, err, tenancy.ErrInvalid, "%q", name)
		assert.Nil(t, mw)
	}
	_, err := m.Middleware("api_call")
	assert.ErrorContains(t, err, `"api_call" is a limit of no plan; they limit ["api_calls"]`)

	free, err := tenancy.NewMetering(memstore.New(), nil, tenancy.MeteringOptions{})
	require.NoError(t, err)
	_, err = free.Middleware("builds")
	assert.NoError(t, err, "without Entitlements any valid name is metered, unlimited")
	_, err = free.Middleware("Builds")
	assert.ErrorIs(t, err, tenancy.ErrInvalid)
}

func TestMeteringReport(t *testing.T) {
	clock := testclock.New(meteringT0)
	m, _ := newMetering(t, tenancy.MeteringOptions{Now: clock.Now})
	ctx := tenantCtx("acme", "free")
	_, err := m.Consume(ctx, "api_calls", 2)
	require.NoError(t, err)
	_, err = m.Add(ctx, "emails", 7)
	require.NoError(t, err)
	_, err = m.Consume(tenantCtx("globex", "free"), "api_calls", 3)
	require.NoError(t, err)

	limit, remaining := int64(3), int64(1)
	rep, err := m.Report(ctx, "api_calls")
	require.NoError(t, err)
	assert.Equal(t, tenancy.UsageReport{Metric: "api_calls", Used: 2, Limit: &limit, Remaining: &remaining, Period: "month",
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Reset: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}, *rep)

	rep, err = m.Report(ctx, "emails")
	require.NoError(t, err)
	assert.EqualValues(t, 7, rep.Used)
	assert.Nil(t, rep.Limit, "no plan limits emails")
	assert.Nil(t, rep.Remaining)

	over := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "free", Settings: map[string]string{"limit.api_calls": "1"}})
	rep, err = m.Report(over, "api_calls")
	require.NoError(t, err)
	assert.EqualValues(t, 1, *rep.Limit, "the tenant's override")
	assert.EqualValues(t, 0, *rep.Remaining, "never below zero")

	_, err = m.Report(context.Background(), "api_calls")
	assert.ErrorIs(t, err, tenancy.ErrNoTenant)
}

type failingUsage struct{}

func (failingUsage) AddUsage(context.Context, tenancy.UsageKey, int64, int64) (int64, bool, error) {
	return 0, false, errors.New("database down")
}

func (failingUsage) Usage(context.Context, tenancy.UsageKey) (int64, error) {
	return 0, errors.New("database down")
}

func TestMeteringMiddlewareStoreFailure(t *testing.T) {
	m, err := tenancy.NewMetering(failingUsage{}, nil, tenancy.MeteringOptions{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	called := false
	mw, err := m.Middleware("api_calls")
	require.NoError(t, err)
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(tenantCtx("acme", "free")))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.False(t, called)
}

func TestWithUsageMerges(t *testing.T) {
	ctx := tenancy.WithUsage(context.Background(), map[string]int64{"a": 1, "b": 2})
	inner := tenancy.WithUsage(ctx, map[string]int64{"b": 3, "c": 4})
	assert.Equal(t, map[string]int64{"a": 1, "b": 3, "c": 4}, tenancy.UsageFromContext(inner))
	assert.Equal(t, map[string]int64{"a": 1, "b": 2}, tenancy.UsageFromContext(ctx), "the outer context is unchanged")
	assert.Nil(t, tenancy.UsageFromContext(context.Background()))
}
