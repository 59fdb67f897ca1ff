package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
)

// TestNewWorkWakesOtherProcesses: on PostgreSQL a worker in another
// process learns of each message as it is committed, with no poll: its
// poll here is an hour, so only the notification can wake it. A
// subscriber sees each outcome once recorded. The listening connection
// leaves the pool when the worker stops.
func TestNewWorkWakesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.OpenPostgres(t)
	sender := newDispatcher(t, newStore(t, db))
	workerDB := sqldbtest.Reopen(t, db)
	worker := newDispatcher(t, newStore(t, workerDB))
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, _, err := sender.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: srv.URL})
	require.NoError(t, err)

	outcomes, unsubscribe := worker.Subscribe(10)
	defer unsubscribe()
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = worker.Run(runCtx, webhook.WorkerOptions{Client: loopback, Poll: time.Hour})
	}()
	for i := range 5 {
		_, err := sender.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "user.created", Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
		await.True(t, func() bool { return received.Load() == int32(i+1) }, "message %d never reached the other process's worker", i)
		o := <-outcomes // recorded, in one batch statement
		assert.Equal(t, fmt.Sprint(i), string(o.Delivery.Message.Payload))
		assert.Equal(t, webhook.StateSucceeded, o.Delivery.State)
	}
	stop()
	<-stopped

	// Every connection left in the worker's pool has stopped listening.
	var conns []*sql.Conn
	for range workerDB.Stats().OpenConnections {
		c, err := workerDB.Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		var channels int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_listening_channels()").Scan(&channels))
		assert.Zero(t, channels, "a connection went back to the pool still listening")
		require.NoError(t, c.Close())
	}
}
