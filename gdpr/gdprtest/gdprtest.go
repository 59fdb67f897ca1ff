// Package gdprtest holds the conformance suites of gdpr.Store,
// gdpr.HoldStore and gdpr.IncidentStore: the Memory stores and
// gdpr/sqlstore run them, and so can any other store. Besides each
// store's own contract, the suites run erasures through a gdpr.Engine
// over the store, so that what the Engine keeps in it (steps, errors,
// holds) is seen to survive a round trip.
package gdprtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/memstore"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func request(tenant, id string, due time.Time) *gdpr.Request {
	return &gdpr.Request{ID: id, TenantID: tenant, Kind: gdpr.Erasure, Regime: gdpr.GDPR, State: gdpr.Received,
		Subject:    gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_" + id}}},
		ReceivedAt: t0, DueAt: due, Channel: "web"}
}

// RunStoreTests runs the suite; newStore returns an empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) gdpr.Store) {
	ctx := context.Background()
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		r := request("acme", "dsr_1", t0.AddDate(0, 1, 0))
		require.NoError(t, s.Create(ctx, r))
		assert.EqualValues(t, 1, r.Version)
		assert.ErrorIs(t, s.Create(ctx, request("acme", "dsr_1", t0)), gdpr.ErrConflict)

		got, err := s.Get(ctx, "acme", "dsr_1")
		require.NoError(t, err)
		assert.Equal(t, r.Subject, got.Subject)
		assert.True(t, got.DueAt.Equal(r.DueAt))
		_, err = s.Get(ctx, "globex", "dsr_1")
		assert.ErrorIs(t, err, gdpr.ErrNotFound, "tenant-scoped")

		got.State = gdpr.InProgress
		got.Steps = map[string]gdpr.Step{"crm": {Done: true, At: t0, Records: 3, Note: "deleted"}}
		require.NoError(t, s.Update(ctx, got))
		assert.EqualValues(t, 2, got.Version)
		stale := *r
		stale.State = gdpr.Denied
		assert.ErrorIs(t, s.Update(ctx, &stale), gdpr.ErrConflict, "a stale version")
		again, err := s.Get(ctx, "acme", "dsr_1")
		require.NoError(t, err)
		assert.Equal(t, gdpr.InProgress, again.State)
		assert.Equal(t, 3, again.Steps["crm"].Records)
		assert.True(t, again.Steps["crm"].Done)

		other := request("globex", "dsr_1x", t0)
		other.Version = 1
		assert.ErrorIs(t, s.Update(ctx, other), gdpr.ErrNotFound)
	})
	t.Run("UnstorableText", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Create(ctx, request("acme", "dsr_1", t0)))
		for _, id := range []string{"a\x00b", "\xff", "dsr_\xc3\x28"} {
			_, err := s.Get(ctx, "acme", id)
			assert.ErrorIs(t, err, gdpr.ErrNotFound, "Get %q", id)
			_, err = s.Get(ctx, id, "dsr_1")
			assert.ErrorIs(t, err, gdpr.ErrNotFound, "Get of tenant %q", id)
			got, err := s.List(ctx, id, gdpr.RequestFilter{})
			assert.NoError(t, err, "List of tenant %q", id)
			assert.Empty(t, got)
			bad := request("acme", "dsr_2", t0)
			bad.Subject.Identities[0].Value = id
			assert.ErrorIs(t, s.Create(ctx, bad), gdpr.ErrInvalid, "a subject %q is refused, not replaced", id)
		}
	})
	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		for i, due := range []time.Time{t0.AddDate(0, 0, 20), t0.AddDate(0, 0, 5), t0.AddDate(0, 0, 10)} {
			require.NoError(t, s.Create(ctx, request("acme", "dsr_"+string(rune('a'+i)), due)))
		}
		require.NoError(t, s.Create(ctx, request("globex", "dsr_z", t0)))
		all, err := s.List(ctx, "acme", gdpr.RequestFilter{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		assert.Equal(t, []string{"dsr_b", "dsr_c", "dsr_a"}, []string{all[0].ID, all[1].ID, all[2].ID}, "by due date")
		soon, err := s.List(ctx, "acme", gdpr.RequestFilter{DueBefore: t0.AddDate(0, 0, 15)})
		require.NoError(t, err)
		assert.Len(t, soon, 2)
		b := all[0]
		b.State = gdpr.Completed
		require.NoError(t, s.Update(ctx, b))
		done, err := s.List(ctx, "acme", gdpr.RequestFilter{State: gdpr.Completed})
		require.NoError(t, err)
		require.Len(t, done, 1)
		assert.Equal(t, "dsr_b", done[0].ID)
	})
	t.Run("HoldStopsErasure", func(t *testing.T) {
		testHoldStopsErasure(t, newStore(t), memstore.New())
	})
	t.Run("ResumeKeepsCounts", func(t *testing.T) {
		testResumeKeepsCounts(t, newStore(t))
	})
}
