package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
)

func newStore(t testing.TB, db *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestHoldsConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		gdprtest.RunHoldStoreTests(t, func(t *testing.T) gdpr.HoldStore { return newStore(t, open(t)) })
	})
}

func TestIncidentsConformance(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		gdprtest.RunIncidentStoreTests(t, func(t *testing.T) gdpr.IncidentStore { return newStore(t, open(t)) })
	})
}

// erasable is a source that erases whatever it is asked to.
type erasable struct{}

func (erasable) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: "crm", Categories: []string{"contact"}}
}
func (erasable) Export(context.Context, string, gdpr.Subject, func(any) error) error {
	return nil
}
func (erasable) Erase(context.Context, string, gdpr.Subject) (gdpr.Erased, error) {
	return gdpr.Erased{Records: 1}, nil
}

// TestHoldsAreSharedAndDurable: two engines over one database stand for
// two replicas. A hold placed through one refuses an erasure through
// the other at once, and holds and the breach register's deadlines
// outlive both (a restart reopens the database).
func TestHoldsAreSharedAndDurable(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clock := testclock.New(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
		replica := func(db *sqldb.DB) (*gdpr.Engine, *gdpr.Incidents) {
			st := newStore(t, db)
			e, err := gdpr.New(st, gdpr.Options{Holds: st, Now: clock.Now}, erasable{})
			require.NoError(t, err)
			return e, gdpr.NewIncidents(st, clock.Now)
		}
		a, incidentsA := replica(db)
		b, _ := replica(sqldbtest.Reopen(t, db))

		_, err := a.PlaceHold(ctx, "acme", "usr_ada", "litigation 2026-17")
		require.NoError(t, err)
		subject := gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: "usr_ada"}}}
		r, err := b.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, subject, "web")
		require.NoError(t, err)
		_, err = b.Verify(ctx, "acme", r.ID)
		require.NoError(t, err)
		_, err = b.Process(ctx, "acme", r.ID)
		assert.ErrorIs(t, err, gdpr.ErrHeld, "held through the other replica")

		inc, err := incidentsA.Open(ctx, "backup bucket readable publicly", clock.Now(), 1200, []string{"contact"}, "acme")
		require.NoError(t, err)

		// Both replicas restart: a new connection pool each.
		clock.Advance(73 * time.Hour)
		c, incidentsC := replica(sqldbtest.Reopen(t, db))
		holds, err := c.Holds(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, holds, 1)
		assert.Equal(t, "litigation 2026-17", holds[0].Reason)
		_, err = c.Process(ctx, "acme", r.ID)
		assert.ErrorIs(t, err, gdpr.ErrHeld, "the hold survived the restart")
		overdue, err := incidentsC.Overdue(ctx)
		require.NoError(t, err)
		require.Len(t, overdue, 1, "the deadline survived the restart")
		assert.Equal(t, inc.ID, overdue[0].ID)

		require.NoError(t, a.ReleaseHold(ctx, "acme", "usr_ada"))
		r, err = c.Process(ctx, "acme", r.ID)
		require.NoError(t, err)
		assert.Equal(t, gdpr.Completed, r.State)
	})
}
