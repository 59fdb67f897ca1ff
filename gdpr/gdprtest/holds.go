package gdprtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/memstore"
)

// RunHoldStoreTests is the conformance suite of gdpr.HoldStore;
// newStore returns an empty store.
func RunHoldStoreTests(t *testing.T, newStore func(t *testing.T) gdpr.HoldStore) {
	ctx := context.Background()
	t.Run("PutListRelease", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.PutHold(ctx, gdpr.Hold{TenantID: "acme", SubjectKey: "usr_ada", Reason: "litigation 2026-17", PlacedAt: t0}))
		require.NoError(t, s.PutHold(ctx, gdpr.Hold{TenantID: "acme", Reason: "regulator inquiry", PlacedAt: t0.Add(time.Hour)}))
		require.NoError(t, s.PutHold(ctx, gdpr.Hold{TenantID: "globex", SubjectKey: "usr_bob", Reason: "audit", PlacedAt: t0}))

		holds, err := s.Holds(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, holds, 2)
		assert.Equal(t, "", holds[0].SubjectKey, "the tenant-wide hold first")
		assert.Equal(t, "regulator inquiry", holds[0].Reason)
		assert.True(t, holds[0].PlacedAt.Equal(t0.Add(time.Hour)))
		assert.Equal(t, gdpr.Hold{TenantID: "acme", SubjectKey: "usr_ada", Reason: "litigation 2026-17", PlacedAt: holds[1].PlacedAt}, holds[1])
		assert.True(t, holds[1].PlacedAt.Equal(t0))

		// Placing again replaces the reason.
		require.NoError(t, s.PutHold(ctx, gdpr.Hold{TenantID: "acme", SubjectKey: "usr_ada", Reason: "litigation 2026-18", PlacedAt: t0}))
		holds, err = s.Holds(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, holds, 2)
		assert.Equal(t, "litigation 2026-18", holds[1].Reason)

		require.NoError(t, s.ReleaseHold(ctx, "acme", ""))
		assert.ErrorIs(t, s.ReleaseHold(ctx, "acme", ""), gdpr.ErrNotFound)
		assert.ErrorIs(t, s.ReleaseHold(ctx, "acme", "usr_bob"), gdpr.ErrNotFound, "another tenant's subject")
		holds, err = s.Holds(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, holds, 1)
		assert.Equal(t, "usr_ada", holds[0].SubjectKey)

		holds, err = s.Holds(ctx, "initech")
		require.NoError(t, err)
		assert.Empty(t, holds)
	})
	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		for _, h := range []gdpr.Hold{
			{TenantID: "", Reason: "x"},
			{TenantID: "acme", Reason: " "},
			{TenantID: "acme", SubjectKey: "usr_\x00", Reason: "x"},
			{TenantID: "acme", Reason: "\xff"},
		} {
			assert.ErrorIs(t, s.PutHold(ctx, h), gdpr.ErrInvalid, "%+v", h)
		}
		holds, err := s.Holds(ctx, "acme")
		require.NoError(t, err)
		assert.Empty(t, holds)
		holds, err = s.Holds(ctx, "a\x00b")
		assert.NoError(t, err, "an unstorable tenant holds nothing")
		assert.Empty(t, holds)
		assert.ErrorIs(t, s.ReleaseHold(ctx, "\xff", ""), gdpr.ErrNotFound)
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 10 {
					assert.NoError(t, s.PutHold(ctx, gdpr.Hold{TenantID: "acme", SubjectKey: fmt.Sprint("usr_", j), Reason: fmt.Sprint("case ", i), PlacedAt: t0}))
				}
			})
		}
		wg.Wait()
		holds, err := s.Holds(ctx, "acme")
		require.NoError(t, err)
		assert.Len(t, holds, 10, "one hold per subject, however often placed")
	})
	t.Run("HoldStopsErasure", func(t *testing.T) {
		testHoldStopsErasure(t, memstore.New(), newStore(t))
	})
}

func incident(id string, notifyBy time.Time) *gdpr.Incident {
	return &gdpr.Incident{ID: id, TenantIDs: []string{"acme", "globex"}, Description: "backup bucket readable publicly",
		Categories: []string{"contact"}, Subjects: 1200, DetectedAt: notifyBy.Add(-gdpr.NotificationWindow),
		NotifyBy: notifyBy, Status: gdpr.IncidentOpen}
}

// RunIncidentStoreTests is the conformance suite of gdpr.IncidentStore;
// newStore returns an empty store.
func RunIncidentStoreTests(t *testing.T, newStore func(t *testing.T) gdpr.IncidentStore) {
	ctx := context.Background()
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		inc := incident("inc_1", t0)
		require.NoError(t, s.CreateIncident(ctx, inc))
		assert.EqualValues(t, 1, inc.Version)
		assert.ErrorIs(t, s.CreateIncident(ctx, incident("inc_1", t0)), gdpr.ErrConflict)

		got, err := s.GetIncident(ctx, "inc_1")
		require.NoError(t, err)
		assert.Equal(t, inc.TenantIDs, got.TenantIDs)
		assert.Equal(t, inc.Categories, got.Categories)
		assert.True(t, got.NotifyBy.Equal(t0))
		assert.True(t, got.DetectedAt.Equal(inc.DetectedAt))

		got.Status, got.NotifiedAt, got.SubjectsNotifiedAt = gdpr.IncidentNotified, t0.Add(-time.Hour), t0
		require.NoError(t, s.UpdateIncident(ctx, got))
		assert.EqualValues(t, 2, got.Version)
		stale := *inc
		stale.Status = gdpr.IncidentClosed
		assert.ErrorIs(t, s.UpdateIncident(ctx, &stale), gdpr.ErrConflict, "a stale version")
		again, err := s.GetIncident(ctx, "inc_1")
		require.NoError(t, err)
		assert.Equal(t, gdpr.IncidentNotified, again.Status)
		assert.True(t, again.NotifiedAt.Equal(t0.Add(-time.Hour)))
		assert.True(t, again.SubjectsNotifiedAt.Equal(t0))

		_, err = s.GetIncident(ctx, "inc_nope")
		assert.ErrorIs(t, err, gdpr.ErrNotFound)
		_, err = s.GetIncident(ctx, "inc_\x00")
		assert.ErrorIs(t, err, gdpr.ErrNotFound)
		ghost := incident("inc_ghost", t0)
		ghost.Version = 1
		assert.ErrorIs(t, s.UpdateIncident(ctx, ghost), gdpr.ErrNotFound)
		bad := incident("inc_2", t0)
		bad.Description = "\xff"
		assert.ErrorIs(t, s.CreateIncident(ctx, bad), gdpr.ErrInvalid)
	})
	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		for i, due := range []time.Time{t0.Add(48 * time.Hour), t0, t0.Add(24 * time.Hour)} {
			require.NoError(t, s.CreateIncident(ctx, incident(fmt.Sprint("inc_", i), due)))
		}
		notified := incident("inc_9", t0.Add(-time.Hour))
		notified.Status = gdpr.IncidentNotified
		require.NoError(t, s.CreateIncident(ctx, notified))

		all, err := s.ListIncidents(ctx, gdpr.IncidentFilter{})
		require.NoError(t, err)
		var ids []string
		for _, inc := range all {
			ids = append(ids, inc.ID)
		}
		assert.Equal(t, []string{"inc_9", "inc_1", "inc_2", "inc_0"}, ids, "by deadline")

		overdue, err := s.ListIncidents(ctx, gdpr.IncidentFilter{Status: gdpr.IncidentOpen, NotifyByBefore: t0.Add(25 * time.Hour)})
		require.NoError(t, err)
		require.Len(t, overdue, 2)
		assert.Equal(t, "inc_1", overdue[0].ID)
		assert.Equal(t, "inc_2", overdue[1].ID)
	})
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateIncident(ctx, incident("inc_1", t0)))
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Go(func() {
				inc, err := s.GetIncident(ctx, "inc_1")
				if !assert.NoError(t, err) || inc.Version != 1 {
					return
				}
				inc.Subjects++
				if err := s.UpdateIncident(ctx, inc); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else {
					assert.ErrorIs(t, err, gdpr.ErrConflict)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, won, "one update of version 1 wins")
	})
}
