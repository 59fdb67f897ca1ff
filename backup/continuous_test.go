package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/sqlitecheck"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/testclock"
)

// fakeReplica is a continuous source whose newest point the test sets,
// and whose restore writes a small SQLite database, or fails.
type fakeReplica struct {
	mu       sync.Mutex
	newest   time.Time
	restored []time.Time
	fail     error
}

func (f *fakeReplica) Newest(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.newest.IsZero() {
		return time.Time{}, backup.ErrNotFound
	}
	return f.newest, nil
}

func (f *fakeReplica) set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.newest = t
}

func (f *fakeReplica) Restore(ctx context.Context, at time.Time, path string) error {
	f.mu.Lock()
	f.restored = append(f.restored, at)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return fail
	}
	db, err := sqldb.Open(ctx, "sqlite:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE TABLE tenants (id TEXT); INSERT INTO tenants VALUES ('acme')")
	return err
}

func (f *fakeReplica) restores() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.restored...)
}

// gaugeValues collects the reader's gauges, keyed by name and the
// values of the attributes job, kind and check.
func gaugeValues(t *testing.T, reader *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch g := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range g.DataPoints {
					job, _ := dp.Attributes.Value("job")
					check, _ := dp.Attributes.Value("check")
					out[m.Name+"/"+job.AsString()+"/"+check.AsString()] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range g.DataPoints {
					job, _ := dp.Attributes.Value("job")
					kind, _ := dp.Attributes.Value("kind")
					out[m.Name+"/"+job.AsString()+"/"+kind.AsString()] = dp.Value
				}
			}
		}
	}
	return out
}

// TestContinuousSources: a Scheduler measures the achieved RPO of a
// replicated SQLite database and of archived PostgreSQL WAL, reports it
// in Status and as saaskit.backup.rpo.achieved, flags a missed RPO,
// and drills point-in-time restores on their interval, recording the
// measured RTO; a failed drill says so.
func TestContinuousSources(t *testing.T) {
	ctx := context.Background()
	keys, _ := newKeyring(t)
	clock := testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("mem")}, backup.Options{Now: clock.Now})
	require.NoError(t, err)
	replica := &fakeReplica{}
	reader := sdkmetric.NewManualReader()
	s, err := backup.NewScheduler(b, nil, backup.SchedulerOptions{
		Now: clock.Now, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Continuous: []backup.Continuous{
			{Name: "saas.db", Newest: replica.Newest, Restore: replica.Restore, RPO: time.Minute,
				DrillEvery: time.Hour, Drill: backup.DrillOptions{ScratchDir: t.TempDir(), Check: sqlitecheck.Query("SELECT 1 FROM tenants")}},
			{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute},
		},
	})
	require.NoError(t, err)

	// Nothing shipped or archived yet: no point, the RPO is missed.
	s.RunDue(ctx)
	for _, name := range []string{"saas.db", "postgres"} {
		st, ok := s.Status(name)
		require.True(t, ok)
		assert.True(t, st.Continuous)
		assert.True(t, st.RPOViolated, name)
		assert.Zero(t, st.AchievedRPO)
		assert.Contains(t, st.LastError, "not found", name)
		assert.Nil(t, st.LastDrill, "nothing to drill yet")
	}

	pushedAt := clock.Now()
	require.NoError(t, b.PushWAL(ctx, walFile(t, t.TempDir(), "000000010000000000000001", 100, 1)))
	replica.set(pushedAt.Add(-10 * time.Second))
	clock.Advance(30 * time.Second)
	s.RunDue(ctx)

	pg, _ := s.Status("postgres")
	assert.Empty(t, pg.LastError)
	assert.Equal(t, pushedAt, pg.NewestPoint)
	assert.Equal(t, 30*time.Second, pg.AchievedRPO)
	assert.False(t, pg.RPOViolated)
	assert.Nil(t, pg.LastDrill, "no Restore: measured, not drilled")

	db, _ := s.Status("saas.db")
	assert.Equal(t, 40*time.Second, db.AchievedRPO)
	assert.False(t, db.RPOViolated)
	require.NotNil(t, db.LastDrill)
	assert.True(t, db.LastDrill.OK, db.LastDrill.Error)
	assert.Equal(t, backup.DrillPointInTime, db.LastDrill.Kind)
	assert.Equal(t, "saas.db", db.LastDrill.Source)
	assert.Equal(t, pushedAt.Add(-10*time.Second), db.LastDrill.Point, "drilled to the newest point")
	assert.Equal(t, clock.Now(), db.LastDrill.At)
	assert.Positive(t, db.LastDrill.Duration, "the measured RTO")
	assert.Positive(t, db.LastDrill.Bytes)
	assert.Len(t, replica.restores(), 1)

	g := gaugeValues(t, reader)
	assert.Equal(t, 40.0, g["saaskit.backup.rpo.achieved/saas.db/continuous"])
	assert.Equal(t, 30.0, g["saaskit.backup.rpo.achieved/postgres/continuous"])
	assert.Equal(t, 0.0, g["saaskit.backup.rpo.violated/saas.db/"])
	assert.Equal(t, 0.0, g["saaskit.backup.rpo.violated/postgres/"])
	assert.Positive(t, g["saaskit.backup.drill.duration/saas.db/point_in_time"])
	assert.Equal(t, 1.0, g["saaskit.backup.check.ok/saas.db/drill"])
	assert.NotContains(t, g, "saaskit.backup.age/saas.db/", "a continuous source has no runs")

	// The gauges measure afresh at collection, as Measure does: the
	// replica moved on.
	replica.set(clock.Now().Add(-time.Second))
	g = gaugeValues(t, reader)
	assert.Equal(t, 1.0, g["saaskit.backup.rpo.achieved/saas.db/continuous"])
	replica.set(clock.Now().Add(-2 * time.Second))
	s.Measure(ctx)
	db, _ = s.Status("saas.db")
	assert.Equal(t, 2*time.Second, db.AchievedRPO)

	// Three minutes without progress: both RPOs are missed. The drill
	// is not due again within the hour.
	clock.Advance(3 * time.Minute)
	s.RunDue(ctx)
	pg, _ = s.Status("postgres")
	db, _ = s.Status("saas.db")
	assert.True(t, pg.RPOViolated)
	assert.True(t, db.RPOViolated)
	assert.Equal(t, 182*time.Second, db.AchievedRPO)
	assert.Len(t, replica.restores(), 1)
	g = gaugeValues(t, reader)
	assert.Equal(t, 1.0, g["saaskit.backup.rpo.violated/postgres/"])

	// An hour later the drill runs again, and fails.
	replica.mu.Lock()
	replica.fail = errors.New("replica: LTX file 0000000000000007 is missing")
	replica.mu.Unlock()
	clock.Advance(time.Hour)
	s.RunDue(ctx)
	db, _ = s.Status("saas.db")
	require.NotNil(t, db.LastDrill)
	assert.False(t, db.LastDrill.OK)
	assert.Contains(t, db.LastDrill.Error, "is missing")
	g = gaugeValues(t, reader)
	assert.Equal(t, 0.0, g["saaskit.backup.check.ok/saas.db/drill"])
	assert.NotContains(t, g, "saaskit.backup.drill.duration/saas.db/point_in_time", "only a drill that passed has an RTO")

	out, err := json.Marshal(db)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, true, got["continuous"])
	assert.InDelta(t, db.AchievedRPO.Seconds(), got["achieved_rpo_seconds"], 0.001)
	assert.Equal(t, "point_in_time", got["last_drill"].(map[string]any)["kind"])
}

// TestContinuousNeedsNameAndNewest: a continuous source without a name
// or a Newest, or named as a job is, is refused.
func TestContinuousNeedsNameAndNewest(t *testing.T) {
	keys, _ := newKeyring(t)
	b, err := backup.New(backup.KeyringCipher(keys, "platform"), []backup.Target{backup.NewMemoryTarget("mem")}, backup.Options{})
	require.NoError(t, err)
	newest := func(context.Context) (time.Time, error) { return time.Now(), nil }
	job := backup.Job{Name: "db", Source: bytesSource([]byte("x")), Every: time.Hour}
	for _, c := range []backup.Continuous{{Newest: newest}, {Name: "wal"}, {Name: "db", Newest: newest}} {
		_, err := backup.NewScheduler(b, []backup.Job{job}, backup.SchedulerOptions{Continuous: []backup.Continuous{c}})
		assert.ErrorIs(t, err, backup.ErrInvalid, "%+v", c)
	}
}

// TestDrillAt drills a point-in-time restore outside a Scheduler: to a
// given point, or to the newest when none is given.
func TestDrillAt(t *testing.T) {
	ctx := context.Background()
	replica := &fakeReplica{}
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	replica.set(at.Add(time.Hour))
	c := backup.Continuous{Name: "saas.db", Newest: replica.Newest, Restore: replica.Restore,
		Drill: backup.DrillOptions{ScratchDir: t.TempDir(), Check: sqlitecheck.Integrity}}

	r := c.DrillAt(ctx, at)
	assert.True(t, r.OK, r.Error)
	assert.Equal(t, at, r.Point)
	r = c.DrillAt(ctx, time.Time{})
	assert.True(t, r.OK, r.Error)
	assert.Equal(t, at.Add(time.Hour), r.Point)
	assert.Equal(t, []time.Time{at, at.Add(time.Hour)}, replica.restores())

	c.Drill.Check = sqlitecheck.Query("SELECT 1 FROM tenants WHERE id = 'globex'")
	r = c.DrillAt(ctx, at)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "returned no row")

	c.Restore = nil
	r = c.DrillAt(ctx, at)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "no Restore")
}
