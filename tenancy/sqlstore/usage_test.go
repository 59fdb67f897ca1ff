package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

func TestUsageStoreConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t) // an unavailable engine skips here, once
			tenancytest.RunUsageStoreTests(t, func(t *testing.T) tenancy.UsageStore { return newStore(t, b.Open) })
		})
	}
}

// TestUsageSharedAcrossStores: two stores on one database, as two
// replicas, count in one counter and keep one limit.
func TestUsageSharedAcrossStores(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			a, err := sqlstore.New(db.DB)
			require.NoError(t, err)
			require.NoError(t, a.Migrate(context.Background()))
			c, err := sqlstore.New(db.DB)
			require.NoError(t, err)
			ctx := context.Background()
			key := tenancy.UsageKey{TenantID: "acme", Metric: "api_calls", Start: tenancy.Monthly.Start(time.Now())}
			_, added, err := a.AddUsage(ctx, key, 6, 10)
			require.NoError(t, err)
			require.True(t, added)
			total, added, err := c.AddUsage(ctx, key, 5, 10)
			require.NoError(t, err)
			assert.False(t, added, "6 counted by one replica and 5 by the other are over 10")
			assert.EqualValues(t, 6, total)
			total, err = c.Usage(ctx, key)
			require.NoError(t, err)
			assert.EqualValues(t, 6, total)
		})
	}
}
