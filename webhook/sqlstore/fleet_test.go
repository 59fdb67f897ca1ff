package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
)

// countingConnector counts the connections a pool opens.
type countingConnector struct {
	driver.Connector
	opened atomic.Int32
}

func (c *countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.opened.Add(1)
	return c.Connector.Connect(ctx)
}

// TestDeliveryKeepsItsConnections: with the pool sqldb.Open sets, a
// run of 16 workers delivering 1,000 messages opens no more PostgreSQL
// backends than the pool holds, and closes none for being idle: no
// connection churn.
func TestDeliveryKeepsItsConnections(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(sqldbtest.DSN(t, sqldbtest.OpenPostgres(t)))
	require.NoError(t, err)
	connector := &countingConnector{Connector: stdlib.GetConnector(*cfg)}
	pool := sql.OpenDB(connector)
	defer pool.Close()
	sqldb.ConfigurePool(pool, sqldb.Postgres)
	st := newStore(t, &sqldb.DB{DB: pool, Dialect: sqldb.Postgres})
	d := newDispatcher(t, st)
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, _, err = d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: srv.URL})
	require.NoError(t, err)
	var msgs []*webhook.Message
	for range n {
		msgs = append(msgs, &webhook.Message{TenantID: "acme", EventType: "user.created", Payload: []byte(`{}`)})
	}
	_, err = d.SendMany(ctx, msgs)
	require.NoError(t, err)

	outcomes, unsubscribe := d.Subscribe(n)
	defer unsubscribe()
	run(t, d, webhook.WorkerOptions{Client: loopback, Concurrency: 16, PerEndpoint: 16})
	for range n {
		<-outcomes
	}
	stats := pool.Stats()
	assert.LessOrEqual(t, int(connector.opened.Load()), sqldb.PostgresMaxConns, "backends opened")
	assert.Zero(t, stats.MaxIdleClosed, "connections closed for want of idle room")
	t.Logf("%d deliveries: %d backends opened, %d open at the end", n, connector.opened.Load(), stats.OpenConnections)
}

// TestTwoWorkerProcessesKeepOrder: two worker processes on one
// PostgreSQL queue deliver every message at least once, and an ordered
// endpoint's one at a time, in order.
func TestTwoWorkerProcessesKeepOrder(t *testing.T) {
	const n = 200
	ctx := context.Background()
	db := sqldbtest.OpenPostgres(t)
	sender := newDispatcher(t, newStore(t, db))
	var mu sync.Mutex
	arrived := map[string][]int{} // by endpoint path: message numbers in arrival order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body [16]byte
		k, _ := r.Body.Read(body[:])
		i, err := strconv.Atoi(string(body[:k]))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		arrived[r.URL.Path] = append(arrived[r.URL.Path], i)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, ep := range []webhook.EndpointSpec{{URL: srv.URL + "/ordered", Ordered: true}, {URL: srv.URL + "/plain"}} {
		_, _, err := sender.CreateEndpoint(ctx, "acme", ep)
		require.NoError(t, err)
	}
	for range 2 { // as two processes: a pool and a store each
		worker := newDispatcher(t, newStore(t, sqldbtest.Reopen(t, db)))
		run(t, worker, webhook.WorkerOptions{Client: loopback, Concurrency: 8, PerEndpoint: 4})
	}
	for i := range n {
		_, err := sender.Send(ctx, &webhook.Message{TenantID: "acme", EventType: "user.created", Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	seen := func(path string) map[int]bool {
		mu.Lock()
		defer mu.Unlock()
		got := map[int]bool{}
		for _, i := range arrived[path] {
			got[i] = true
		}
		return got
	}
	await.True(t, func() bool { return len(seen("/ordered")) == n && len(seen("/plain")) == n }, "not every message arrived at both endpoints")

	mu.Lock()
	defer mu.Unlock()
	ordered := arrived["/ordered"]
	for k := 1; k < len(ordered); k++ {
		require.GreaterOrEqual(t, ordered[k], ordered[k-1], "the ordered endpoint got %d after %d", ordered[k], ordered[k-1])
	}
}
