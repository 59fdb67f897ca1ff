package tenancytest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// RunUsageStoreTests is the conformance suite for tenancy.UsageStore
// (memstore, sqlstore, and third-party ones). newStore must return a
// store with no counters each time it is called.
//
//	func TestUsageStore(t *testing.T) {
//		tenancytest.RunUsageStoreTests(t, func(t *testing.T) tenancy.UsageStore { return mystore.New(...) })
//	}
func RunUsageStoreTests(t *testing.T, newStore func(t *testing.T) tenancy.UsageStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tenancy.UsageStore)
	}{
		{"AddsAndReads", testUsageAddsAndReads},
		{"ConcurrentAddsSum", testUsageConcurrentAdds},
		{"ConcurrentAddsKeepTheMax", testUsageConcurrentMax},
		{"RefusedAddCountsNothing", testUsageRefusedAdd},
		{"PeriodsAreSeparate", testUsagePeriodsSeparate},
		{"TenantsAndMetricsAreIsolated", testUsageIsolated},
		{"NeverOverflows", testUsageOverflow},
		{"BadInputIsRefused", testUsageBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// usageAt is the key of metric for tenant in the monthly period of
// 2026-03-14.
func usageAt(tenant, metric string) tenancy.UsageKey {
	return tenancy.UsageKey{TenantID: tenant, Metric: metric, Period: tenancy.Monthly,
		Start: tenancy.Monthly.Start(time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC))}
}

// addUsage adds n to key under max and fails the test on an error.
func addUsage(t *testing.T, s tenancy.UsageStore, key tenancy.UsageKey, n, max int64) (int64, bool) {
	t.Helper()
	total, added, err := s.AddUsage(context.Background(), key, n, max)
	require.NoError(t, err, "AddUsage %+v n=%d max=%d", key, n, max)
	return total, added
}

// usage reads key and fails the test on an error.
func usage(t *testing.T, s tenancy.UsageStore, key tenancy.UsageKey) int64 {
	t.Helper()
	n, err := s.Usage(context.Background(), key)
	require.NoError(t, err, "Usage %+v", key)
	return n
}

func testUsageAddsAndReads(t *testing.T, s tenancy.UsageStore) {
	k := usageAt("t1", "api_calls")
	assert.Zero(t, usage(t, s, k), "a counter nothing was added to")
	total, added := addUsage(t, s, k, 3, tenancy.NoUsageLimit)
	assert.True(t, added)
	assert.EqualValues(t, 3, total)
	total, added = addUsage(t, s, k, 0, tenancy.NoUsageLimit)
	assert.True(t, added, "adding 0 is always allowed")
	assert.EqualValues(t, 3, total)
	total, _ = addUsage(t, s, k, 4, tenancy.NoUsageLimit)
	assert.EqualValues(t, 7, total)
	assert.EqualValues(t, 7, usage(t, s, k))
}

func testUsageConcurrentAdds(t *testing.T, s tenancy.UsageStore) {
	const workers, each = 8, 25
	k := usageAt("t1", "api_calls")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, _, err := s.AddUsage(context.Background(), k, 2, tenancy.NoUsageLimit); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, workers*each*2, usage(t, s, k), "no add is lost")
}

func testUsageConcurrentMax(t *testing.T, s tenancy.UsageStore) {
	const workers, each, max = 8, 10, 37
	k := usageAt("t1", "api_calls")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int64
		errs    []error
	)
	for range workers {
		wg.Go(func() {
			for range each {
				_, added, err := s.AddUsage(context.Background(), k, 1, max)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if added {
					allowed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	assert.EqualValues(t, max, allowed, "exactly max of %d adds of 1 fit", workers*each)
	assert.EqualValues(t, max, usage(t, s, k))
}

func testUsageRefusedAdd(t *testing.T, s tenancy.UsageStore) {
	k := usageAt("t1", "emails")
	addUsage(t, s, k, 8, 10)
	total, added := addUsage(t, s, k, 3, 10)
	assert.False(t, added, "8+3 is over 10")
	assert.EqualValues(t, 8, total, "a refused add reports the total and counts nothing")
	total, added = addUsage(t, s, k, 2, 10)
	assert.True(t, added, "8+2 fits 10 exactly")
	assert.EqualValues(t, 10, total)

	fresh := usageAt("t1", "sms")
	total, added = addUsage(t, s, fresh, 11, 10)
	assert.False(t, added, "more than max never fits")
	assert.Zero(t, total)
	assert.Zero(t, usage(t, s, fresh))
	total, added = addUsage(t, s, fresh, 0, 0)
	assert.True(t, added, "0 fits a max of 0")
	assert.Zero(t, total)
}

func testUsagePeriodsSeparate(t *testing.T, s tenancy.UsageStore) {
	march := usageAt("t1", "api_calls")
	april := march
	april.Start = tenancy.Monthly.Next(march.Start)
	day := march
	day.Period, day.Start = tenancy.Daily, march.Start // 1 March: same start, another period
	addUsage(t, s, march, 5, tenancy.NoUsageLimit)
	addUsage(t, s, april, 2, tenancy.NoUsageLimit)
	addUsage(t, s, day, 1, tenancy.NoUsageLimit)
	assert.EqualValues(t, 5, usage(t, s, march))
	assert.EqualValues(t, 2, usage(t, s, april))
	assert.EqualValues(t, 1, usage(t, s, day), "a day is not the month it starts")

	// Equal instants are one key, whatever their location.
	sameAsMarch := march
	sameAsMarch.Start = time.Unix(march.Start.Unix(), 0).UTC()
	assert.EqualValues(t, 5, usage(t, s, sameAsMarch))
}

func testUsageIsolated(t *testing.T, s tenancy.UsageStore) {
	addUsage(t, s, usageAt("t1", "api_calls"), 5, tenancy.NoUsageLimit)
	addUsage(t, s, usageAt("t2", "api_calls"), 7, tenancy.NoUsageLimit)
	addUsage(t, s, usageAt("t1", "api_calls.v2"), 1, tenancy.NoUsageLimit)
	assert.EqualValues(t, 5, usage(t, s, usageAt("t1", "api_calls")))
	assert.EqualValues(t, 7, usage(t, s, usageAt("t2", "api_calls")))
	assert.EqualValues(t, 1, usage(t, s, usageAt("t1", "api_calls.v2")))
	assert.Zero(t, usage(t, s, usageAt("t3", "api_calls")))
	_, added := addUsage(t, s, usageAt("t2", "api_calls"), 1, 7)
	assert.False(t, added, "t2's max is about t2's counter")
	_, added = addUsage(t, s, usageAt("t1", "api_calls"), 2, 7)
	assert.True(t, added, "t1's counter is its own")
}

func testUsageOverflow(t *testing.T, s tenancy.UsageStore) {
	k := usageAt("t1", "bytes")
	addUsage(t, s, k, tenancy.NoUsageLimit-1, tenancy.NoUsageLimit)
	total, added := addUsage(t, s, k, 2, tenancy.NoUsageLimit)
	assert.False(t, added, "an add past int64 is refused, not wrapped")
	assert.EqualValues(t, tenancy.NoUsageLimit-1, total)
	total, added = addUsage(t, s, k, 1, tenancy.NoUsageLimit)
	assert.True(t, added)
	assert.EqualValues(t, tenancy.NoUsageLimit, total)
}

func testUsageBadInput(t *testing.T, s tenancy.UsageStore) {
	good := usageAt("t1", "api_calls")
	offStart := good
	offStart.Start = good.Start.Add(time.Hour)
	local := good
	local.Start = good.Start.In(time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name, field string
		key         tenancy.UsageKey
	}{
		{"empty metric", "usage.metric", usageAt("t1", "")},
		{"upper case metric", "usage.metric", usageAt("t1", "API_CALLS")},
		{"space in metric", "usage.metric", usageAt("t1", "api calls")},
		{"long metric", "usage.metric", usageAt("t1", strings.Repeat("a", 65))},
		{"no tenant", "usage.tenant_id", usageAt("", "api_calls")},
		{"start inside a period", "usage.start", offStart},
		{"start not in UTC", "usage.start", local},
		{"unknown period", "usage.period", tenancy.UsageKey{TenantID: "t1", Metric: "api_calls", Period: 7, Start: good.Start}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.AddUsage(context.Background(), tc.key, 1, tenancy.NoUsageLimit)
			assertFieldError(t, err, tc.field)
			_, err = s.Usage(context.Background(), tc.key)
			assertFieldError(t, err, tc.field)
		})
	}
	_, _, err := s.AddUsage(context.Background(), good, -1, tenancy.NoUsageLimit)
	assertFieldError(t, err, "usage.n")
	_, _, err = s.AddUsage(context.Background(), good, 1, -1)
	assertFieldError(t, err, "usage.max")
	assert.Zero(t, usage(t, s, good), "refused input counts nothing")
}

// assertFieldError checks that err is ErrInvalid naming field.
func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	var fe *tenancy.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, field, fe.Field)
}
