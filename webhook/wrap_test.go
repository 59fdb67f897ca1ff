package webhook_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// countingStore wraps the concrete store by embedding it: every method
// of the store is promoted, so the optional interfaces stay.
type countingStore struct {
	*memstore.Store
	claims atomic.Int64
}

func (c *countingStore) Claim(ctx context.Context, now time.Time, lease time.Duration, max, perEndpoint int) ([]*webhook.Delivery, error) {
	c.claims.Add(1)
	return c.Store.Claim(ctx, now, lease, max, perEndpoint)
}

// interfaceWrapper embeds the Queue interface instead: only Queue's own
// methods are promoted.
type interfaceWrapper struct{ webhook.Queue }

// TestWrappedQueuesKeepTheirOptionalInterfaces: what queue.go's
// documentation of optional interfaces says of wrappers holds.
func TestWrappedQueuesKeepTheirOptionalInterfaces(t *testing.T) {
	optional := func(q webhook.Queue) map[string]bool {
		_, subject := q.(webhook.SubjectQueue)
		_, bulk := q.(webhook.BulkQueue)
		_, stats := q.(webhook.StatsQueue)
		_, history := q.(webhook.HistoryQueue)
		_, resend := q.(webhook.ResendQueue)
		_, retention := q.(webhook.RetentionQueue)
		return map[string]bool{"subject": subject, "bulk": bulk, "stats": stats, "history": history, "resend": resend, "retention": retention}
	}
	st := memstore.New()
	for name, has := range optional(&countingStore{Store: st}) {
		assert.True(t, has, "embedding the store keeps %s", name)
	}
	for name, has := range optional(interfaceWrapper{st}) {
		assert.False(t, has, "embedding the Queue interface hides %s", name)
	}

	// The Dispatcher tells a queue without one: ErrUnsupported.
	d, err := webhook.NewDispatcher(st, interfaceWrapper{st}, func(string) webhook.AEAD { return nil }, webhook.DispatcherOptions{})
	if assert.NoError(t, err) {
		_, err = d.EraseSubject(context.Background(), "acme", "usr_ada")
		assert.ErrorIs(t, err, webhook.ErrUnsupported)
	}
}
