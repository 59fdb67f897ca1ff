package gdpr_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func TestResidency(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	defer reg.Close()
	for _, tn := range []*tenancy.Tenant{{ID: "acme", Slug: "acme", Name: "Acme", Region: "eu-west"}, {ID: "globex", Slug: "globex", Name: "Globex"}} {
		_, err := reg.Create(ctx, tn)
		require.NoError(t, err)
	}
	guard := gdpr.Residency{Tenants: reg, Extra: map[string][]string{"acme": {"eu-central"}}}
	assert.NoError(t, guard.Check(ctx, "acme", "eu-west"), "the home region")
	assert.NoError(t, guard.Check(ctx, "acme", "eu-central"), "an extra region")
	err := guard.Check(ctx, "acme", "us-east")
	assert.ErrorIs(t, err, gdpr.ErrResidency)
	assert.ErrorContains(t, err, "us-east")
	assert.ErrorIs(t, guard.Check(ctx, "globex", "us-east"), gdpr.ErrResidency, "no region decided: nowhere")
	assert.ErrorIs(t, guard.Check(ctx, "ghost", "eu-west"), tenancy.ErrNotFound)
}

func overdue(t *testing.T, reg *gdpr.Incidents) []*gdpr.Incident {
	t.Helper()
	out, err := reg.Overdue(context.Background())
	require.NoError(t, err)
	return out
}

func TestBreachIncidents(t *testing.T) {
	ctx := context.Background()
	detected := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(detected.Add(time.Hour))
	reg := gdpr.NewIncidents(nil, clock.Now)
	_, err := reg.Open(ctx, " ", detected, 10, nil)
	assert.ErrorIs(t, err, gdpr.ErrInvalid)
	inc, err := reg.Open(ctx, "backup bucket readable publicly", detected, 1200, []string{"contact"}, "acme")
	require.NoError(t, err)
	assert.Equal(t, detected.Add(72*time.Hour), inc.NotifyBy)
	assert.Empty(t, overdue(t, reg))

	clock.Advance(72*time.Hour + time.Second)
	require.Len(t, overdue(t, reg), 1, "past 72 hours and not notified")
	_, err = reg.Notified(ctx, inc.ID, "")
	assert.ErrorIs(t, err, gdpr.ErrInvalid, "late notifications must say why")
	inc, err = reg.Notified(ctx, inc.ID, "the bucket's logs took two days to analyse")
	require.NoError(t, err)
	assert.Equal(t, gdpr.IncidentNotified, inc.Status)
	assert.Empty(t, overdue(t, reg))
	inc, err = reg.SubjectsNotified(ctx, inc.ID)
	require.NoError(t, err)
	assert.Equal(t, clock.Now(), inc.SubjectsNotifiedAt)
	_, err = reg.SubjectsNotified(ctx, inc.ID)
	assert.ErrorIs(t, err, gdpr.ErrWrongStep, "subjects are notified once")
	_, err = reg.Notified(ctx, inc.ID, "again")
	assert.ErrorIs(t, err, gdpr.ErrWrongStep)
	inc, err = reg.Close(ctx, inc.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.IncidentClosed, inc.Status)
	_, err = reg.Close(ctx, "inc_nope")
	assert.ErrorIs(t, err, gdpr.ErrNotFound)
}
