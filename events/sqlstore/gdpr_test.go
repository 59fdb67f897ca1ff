package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestSourceErasesRelayedEventsOfTheSubject(t *testing.T) {
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		ctx := context.Background()
		st, _ := newStore(t, open)
		relayed := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/alice", SubjectKey: "alice", Payload: []byte(`{"email":"a@example.com"}`)}
		require.NoError(t, st.Append(ctx, relayed,
			&events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/bob", SubjectKey: "bob"},
			&events.Event{TenantID: "globex", Type: "user.created", AggregateKey: "user/alice", SubjectKey: "alice"}))
		for {
			b, err := st.Claim(ctx, time.Now(), time.Minute, 10)
			require.NoError(t, err)
			if b == nil {
				break
			}
			var ids []string
			for _, e := range b.Events {
				ids = append(ids, e.ID)
			}
			require.NoError(t, st.Complete(ctx, b, ids, time.Now()))
		}
		pending := &events.Event{TenantID: "acme", Type: "user.erased", AggregateKey: "user/alice", SubjectKey: "alice"}
		require.NoError(t, st.Append(ctx, pending))

		src, err := sqlstore.NewSource(st, sqlstore.SourceOptions{})
		require.NoError(t, err)
		alice := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "alice"}}}
		n, err := src.Count(ctx, "acme", alice)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		var exported []any
		require.NoError(t, src.Export(ctx, "acme", alice, func(r any) error { exported = append(exported, r); return nil }))
		assert.Len(t, exported, 2)

		erased, err := src.Erase(ctx, "acme", alice)
		require.NoError(t, err)
		assert.Equal(t, 1, erased.Records)
		assert.Contains(t, erased.Note, "1 not yet relayed kept")
		n, err = src.Count(ctx, "acme", alice)
		require.NoError(t, err)
		assert.Zero(t, n)
		p, err := st.Pending(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, p, "the pending user.erased event still goes out")
	})
}
