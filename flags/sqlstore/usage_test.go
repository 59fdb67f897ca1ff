package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// TestUsageAddsUpAcrossReplicas: two processes' counts of the same flag,
// variant and day add up in one row, keeping the latest evaluation; the
// report reads them back by day.
func TestUsageAddsUpAcrossReplicas(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		start, err := s.UsageStart(ctx)
		require.NoError(t, err)
		assert.True(t, start.IsZero(), "no usage yet")

		other := newStore(t, sqldbtest.Reopen(t, db))
		now := t0.Add(3 * time.Hour)
		clock := func() time.Time { return now }
		a, b := flags.NewUsage(s, clock), flags.NewUsage(other, clock)
		for range 3 {
			a.Record("invoices", "on")
		}
		b.Record("invoices", "on")
		b.Record("invoices", "off")
		require.NoError(t, a.Flush(ctx))
		now = now.Add(time.Hour)
		b.Record("invoices", "on")
		require.NoError(t, b.Flush(ctx))
		now = now.Add(24 * time.Hour)
		a.Record("invoices", "on")
		require.NoError(t, a.Flush(ctx))

		day := t0.Truncate(24 * time.Hour)
		got, err := s.Usage(ctx, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, []flags.UsageRecord{
			{Flag: "invoices", Variant: "off", Day: day, Evaluations: 1, Last: t0.Add(3 * time.Hour)},
			{Flag: "invoices", Variant: "on", Day: day, Evaluations: 5, Last: t0.Add(4 * time.Hour)},
			{Flag: "invoices", Variant: "on", Day: day.Add(24 * time.Hour), Evaluations: 1, Last: t0.Add(28 * time.Hour)},
		}, got)
		later, err := s.Usage(ctx, day.Add(25*time.Hour))
		require.NoError(t, err)
		assert.Len(t, later, 1, "records of the days from since's on")
		start, err = s.UsageStart(ctx)
		require.NoError(t, err)
		assert.Equal(t, day, start)
	})
}
