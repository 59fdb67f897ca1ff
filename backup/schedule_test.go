package backup_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/testclock"
)

func TestSchedulerRunsDueJobsUnderLeases(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC))
	mem := backup.NewMemoryTarget("local")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{mem}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	leases := backup.NewMemoryLeases(clock.Now)
	job := backup.Job{Name: "ledger", Source: bytesSource([]byte("ledger")), Every: time.Hour, DrillEvery: 24 * time.Hour, VerifyEvery: time.Hour,
		Placements: []backup.Placement{{Target: "local", Media: "disk"}}}
	s, err := backup.NewScheduler(b, []backup.Job{job}, backup.SchedulerOptions{
		Holder: "a", Leases: leases, Now: clock.Now, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	require.NoError(t, err)

	st, _ := s.Status("ledger")
	assert.True(t, st.RPOViolated, "no backup yet")
	s.RunDue(ctx)
	st, _ = s.Status("ledger")
	require.NotEmpty(t, st.LastBackup, st.LastError)
	assert.False(t, st.RPOViolated)
	require.NotNil(t, st.LastDrill)
	assert.True(t, st.LastDrill.OK, st.LastDrill.Error)
	require.NotNil(t, st.LastVerify)
	assert.True(t, st.LastVerify.OK, st.LastVerify.Error)
	assert.Len(t, st.Violations, 3, "one local copy breaks the 3-2-1 rule three ways")

	s.RunDue(ctx) // not due again yet
	all, _ := b.Manifests(ctx)
	assert.Len(t, all, 1)

	// Another process holds the lease: this one does not run the job.
	clock.Advance(2 * time.Hour)
	ok, err := leases.Acquire(ctx, "ledger", "b", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	s.RunDue(ctx)
	all, _ = b.Manifests(ctx)
	assert.Len(t, all, 1, "the other holder has the job")
	st, _ = s.Status("ledger")
	assert.False(t, st.RPOViolated, "2h old with an RPO of 2h: at the limit")
	clock.Advance(time.Minute)
	st, _ = s.Status("ledger")
	assert.True(t, st.RPOViolated, "past the RPO")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	gauges := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch g := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range g.DataPoints {
					check, _ := dp.Attributes.Value("check")
					gauges[m.Name+check.AsString()] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				gauges[m.Name] = g.DataPoints[0].Value
			}
		}
	}
	assert.Equal(t, 1.0, gauges["saaskit.backup.rpo.violated"])
	assert.InDelta(t, (2*time.Hour + time.Minute).Seconds(), gauges["saaskit.backup.age"], 1)
	assert.Equal(t, 3.0, gauges["saaskit.backup.rule321.violations"])
	assert.Equal(t, 1.0, gauges["saaskit.backup.copies"])
	assert.Equal(t, 1.0, gauges["saaskit.backup.check.okdrill"])
	assert.Equal(t, 1.0, gauges["saaskit.backup.check.okverify"])
	assert.Positive(t, gauges["saaskit.backup.last_success"])
}

// TestStatusJSONSaysSeconds: durations are seconds in JSON, never
// nanoseconds, and times RFC 3339.
func TestStatusJSONSaysSeconds(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	st := backup.Status{Job: "db", LastSuccess: at, LastDuration: 1500 * time.Millisecond,
		LastDrill: &backup.DrillReport{ID: "b1", At: at, Duration: 2 * time.Second, OK: true}}
	b, err := json.Marshal(st)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, 1.5, got["last_duration_seconds"])
	assert.NotContains(t, got, "last_duration")
	assert.Equal(t, "2026-05-06T07:08:09Z", got["last_success"])
	drill := got["last_drill"].(map[string]any)
	assert.Equal(t, 2.0, drill["duration_seconds"])
	assert.NotContains(t, drill, "duration")
}
