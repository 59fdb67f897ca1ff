package flags_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
)

// memUsage is a UsageStore in memory, failing while broken.
type memUsage struct {
	records []flags.UsageRecord
	broken  bool
}

func (m *memUsage) AddUsage(_ context.Context, rs []flags.UsageRecord) error {
	if m.broken {
		return errors.New("database down")
	}
	m.records = append(m.records, rs...)
	return nil
}

func (m *memUsage) Usage(context.Context, time.Time) ([]flags.UsageRecord, error) {
	return m.records, nil
}

func TestUsageKeepsCountsItCouldNotFlush(t *testing.T) {
	store := &memUsage{broken: true}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	u := flags.NewUsage(store, func() time.Time { return now })
	u.Record("a", "on")
	assert.ErrorContains(t, u.Flush(context.Background()), "database down")
	u.Record("a", "on")
	store.broken = false
	require.NoError(t, u.Flush(context.Background()))
	require.Len(t, store.records, 1)
	assert.Equal(t, flags.UsageRecord{Flag: "a", Variant: "on", Day: now.Truncate(24 * time.Hour), Evaluations: 2, Last: now}, store.records[0])
	require.NoError(t, u.Flush(context.Background()))
	assert.Len(t, store.records, 1, "nothing new to flush")
}

// TestUsageCountsProviderEvaluations: as an OpenFeature hook, Usage
// counts what each evaluation served.
func TestUsageCountsProviderEvaluations(t *testing.T) {
	set, err := flags.Parse([]byte(`{"flags": {"beta": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`))
	require.NoError(t, err)
	store := &memUsage{}
	u := flags.NewUsage(store, nil)
	client := openfeature.NewClient("usage-test")
	require.NoError(t, openfeature.SetNamedProviderAndWait("usage-test", flags.NewProvider(flags.NewEvaluator(set, flags.Options{}), flags.ProviderOptions{})))
	client.AddHooks(u)
	for range 3 {
		_, err := client.BooleanValue(context.Background(), "beta", true, openfeature.NewTargetlessEvaluationContext(nil))
		require.NoError(t, err)
	}
	require.NoError(t, u.Flush(context.Background()))
	require.Len(t, store.records, 1)
	assert.Equal(t, "beta", store.records[0].Flag)
	assert.Equal(t, "off", store.records[0].Variant)
	assert.EqualValues(t, 3, store.records[0].Evaluations)
}

func TestStaleFlags(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	day := func(daysAgo int) time.Time { return now.Truncate(24*time.Hour).AddDate(0, 0, -daysAgo) }
	rec := func(flag, variant string, daysAgo int) flags.UsageRecord {
		return flags.UsageRecord{Flag: flag, Variant: variant, Day: day(daysAgo), Evaluations: 10, Last: day(daysAgo).Add(time.Hour)}
	}
	defs := flags.Definitions{Flags: map[string]flags.Flag{
		"live-split": {}, "done": {}, "forgotten": {}, "new-and-unused": {}, "killed": {},
	}}
	usage := []flags.UsageRecord{
		rec("live-split", "on", 2), rec("live-split", "off", 1),
		rec("done", "off", 40), rec("done", "on", 29), rec("done", "on", 3), // split until 40 days ago, all "on" since
		rec("forgotten", "on", 45),
		rec("killed", "", 10),
	}
	opts := flags.StaleOptions{Now: now, Period: 30 * 24 * time.Hour, RecordedFrom: day(60)}
	got := flags.StaleFlags(defs, usage, opts)
	byFlag := map[string]flags.StaleFlag{}
	for _, s := range got {
		byFlag[s.Flag] = s
	}
	assert.Len(t, got, 4, "%+v", got)
	assert.NotContains(t, byFlag, "live-split")
	assert.Equal(t, flags.StaleRolledOut, byFlag["done"].Kind)
	assert.Equal(t, "on", byFlag["done"].Variant)
	assert.Equal(t, `served only "on" since 2026-05-31`, byFlag["done"].Detail)
	assert.Equal(t, flags.StaleUnused, byFlag["forgotten"].Kind)
	assert.Equal(t, "last evaluated 2026-05-16", byFlag["forgotten"].Detail)
	assert.Equal(t, flags.StaleNeverEvaluated, byFlag["new-and-unused"].Kind)
	assert.Equal(t, flags.StaleRolledOut, byFlag["killed"].Kind)
	assert.Contains(t, byFlag["killed"].Detail, "callers' default")

	opts.RecordedFrom = day(10)
	assert.Empty(t, flags.StaleFlags(defs, usage, opts), "ten days of records cannot tell thirty")
	opts.RecordedFrom = time.Time{}
	assert.Empty(t, flags.StaleFlags(defs, usage, opts), "nothing recorded: nothing known")
}
