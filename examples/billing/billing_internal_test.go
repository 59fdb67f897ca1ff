package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// TestHandleOncePerEvent runs billing's handler through its SQL inbox on
// both engines: an account opens once however often user.created comes,
// erasure closes it, and a user.created that arrives after the erasure
// (the two are relayed independently) opens nothing.
func TestHandleOncePerEvent(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		b, err := newBilling(ctx, db.DB)
		require.NoError(t, err)
		process := func(e *events.Event) events.Outcome {
			t.Helper()
			out, err := b.inbox.Process(ctx, "billing", e, b.handle)
			require.NoError(t, err)
			return out
		}
		created := func(user string) *events.Event {
			return &events.Event{ID: "created-" + user, TenantID: "acme", Type: "user.created", Version: 1,
				AggregateKey: "user/" + user, AggregateSeq: 1, SubjectKey: user,
				Payload: []byte(`{"type":"user.created","data":{"id":"` + user + `","email_address":"` + user + `@example.com"}}`)}
		}
		erased := func(user string) *events.Event {
			return &events.Event{ID: "erased-" + user, TenantID: "acme", Type: "user.erased", Version: 1,
				Payload: []byte(`{"type":"user.erased","data":{"id":"` + user + `"}}`)}
		}
		count := func(query, user string) int {
			t.Helper()
			var n int
			require.NoError(t, db.QueryRow(db.Dialect.Rebind(query), user).Scan(&n))
			return n
		}

		assert.Equal(t, events.Handled, process(created("ada")))
		assert.Equal(t, events.Duplicate, process(created("ada")), "redelivered")
		assert.Equal(t, 1, count(`SELECT COUNT(*) FROM billing_accounts WHERE user_id = ?`, "ada"))
		assert.Equal(t, 1, count(`SELECT COUNT(*) FROM billing_history WHERE user_id = ?`, "ada"), "applied once")

		assert.Equal(t, events.Handled, process(erased("ada")))
		assert.Equal(t, events.Duplicate, process(erased("ada")))
		assert.Zero(t, count(`SELECT COUNT(*) FROM billing_accounts WHERE user_id = ?`, "ada"))

		assert.Equal(t, events.Handled, process(erased("bob")), "the erasure came first")
		assert.Equal(t, events.Handled, process(created("bob")))
		assert.Zero(t, count(`SELECT COUNT(*) FROM billing_accounts WHERE user_id = ?`, "bob"), "no account for an erased user")

		bad := &events.Event{ID: "bad", TenantID: "acme", Type: "user.created", Version: 1, Payload: []byte(`{"data":{}}`)}
		_, err = b.inbox.Process(ctx, "billing", bad, b.handle)
		assert.ErrorContains(t, err, "payload has no data.id")
	})
}
