package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhooktest"
)

// backends lists the engines; postgres skips, with the reason, when
// SAASKIT_TEST_POSTGRES_DSN is unset.
var backends = sqldbtest.Engines

var t0 = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

func newStore(t testing.TB, db *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func message(tenant, id string) *webhook.Message {
	return &webhook.Message{ID: id, TenantID: tenant, EventType: "invoice.paid", Payload: json.RawMessage(`{"n":1}`), Subject: "user-1", CreatedAt: t0}
}

func endpoint(id string, ordered bool) *webhook.Endpoint {
	return &webhook.Endpoint{ID: id, TenantID: "acme", URL: "https://hooks.example.com/" + id, Ordered: ordered}
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t) // an unavailable engine skips here, once
			webhooktest.RunStoreTests(t, func(t *testing.T) webhooktest.Adapter { return newStore(t, b.Open(t)) })
		})
	}
}

// TestShared runs the multi-process promises with each handle a pool of
// its own on the same database.
func TestShared(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			webhooktest.RunSharedTests(t, func(t *testing.T) (webhooktest.Adapter, func() webhooktest.Adapter) {
				db := b.Open(t)
				return newStore(t, db), func() webhooktest.Adapter { return newStore(t, sqldbtest.Reopen(t, db)) }
			})
		})
	}
}

func TestNewRejectsOtherDrivers(t *testing.T) {
	_, err := sqlstore.New(nil)
	assert.ErrorIs(t, err, sqldb.ErrUnsupported)
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			s := newStore(t, db)
			e := endpoint("ep1", false)
			require.NoError(t, s.CreateEndpoint(ctx, e))
			require.NoError(t, s.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{e}))
			var before int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM saaskit_migrations WHERE component = 'webhook'").Scan(&before))

			require.NoError(t, s.Migrate(ctx))
			require.NoError(t, s.Migrate(ctx))
			var after int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM saaskit_migrations WHERE component = 'webhook'").Scan(&after))
			assert.Equal(t, before, after)
			files, err := os.ReadDir(filepath.Join("migrations", b.Name))
			require.NoError(t, err)
			assert.Equal(t, len(files), after, "every migration recorded once")
			_, err = s.GetEndpoint(ctx, "acme", "ep1")
			assert.NoError(t, err, "migrating again lost data")
			ds, err := s.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
			require.NoError(t, err)
			assert.Len(t, ds, 1)
		})
	}
}

// TestTxQueueConformance: the transactional outbox, on both engines.
func TestTxQueueConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			b.Open(t) // an unavailable engine skips here, once
			webhooktest.RunTxQueueTests(t, func(t *testing.T) (webhooktest.TxAdapter, *sql.DB) {
				db := b.Open(t)
				return newStore(t, db), db.DB
			})
		})
	}
}

// TestOrderedEnqueueFollowsCommitOrder: a second enqueue to an ordered
// endpoint waits for an open transaction that enqueued to it first, so
// seq order is commit order and the first message goes first.
func TestOrderedEnqueueFollowsCommitOrder(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			s := newStore(t, db)
			ord := endpoint("ord", true)
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }() // on failure, before the database is dropped
			require.NoError(t, s.EnqueueTx(ctx, tx, message("acme", "m1"), []*webhook.Endpoint{ord}))

			done := make(chan error, 1)
			go func() { done <- s.Enqueue(ctx, message("acme", "m2"), []*webhook.Endpoint{ord}) }()
			select {
			case err := <-done:
				t.Fatalf("the second enqueue did not wait for the first to commit (err %v)", err)
			case <-time.After(300 * time.Millisecond):
			}
			require.NoError(t, tx.Commit())
			require.NoError(t, <-done)
			claimed, err := s.Claim(ctx, t0, time.Minute, 10, 10)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			assert.Equal(t, "m1", claimed[0].Message.ID)
		})
	}
}

// TestConcurrentClaimers runs 8 claim loops over 200 deliveries (16
// endpoints, 4 of them ordered) through one shared handle and through
// a handle each, as separate processes would. No delivery is ever held
// by two claimers, each is claimed exactly once (leases never expire
// here), an ordered endpoint never has two deliveries out at once and
// gets them in order, and together the claimers take all 200.
func TestConcurrentClaimers(t *testing.T) {
	const (
		claimers   = 8
		total      = 200
		nEndpoints = 16
		nOrdered   = 4
	)
	for _, b := range backends {
		for _, separate := range []bool{false, true} {
			name := b.Name + "/shared_handle"
			if separate {
				name = b.Name + "/handle_each"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				db := b.Open(t)
				s := newStore(t, db)
				eps := make([]*webhook.Endpoint, nEndpoints)
				ordered := map[string]bool{}
				for i := range eps {
					eps[i] = endpoint(fmt.Sprintf("ep%02d", i), i < nOrdered)
					ordered[eps[i].ID] = eps[i].Ordered
				}
				perEndpoint := map[string]int{}
				for i := range total {
					ep := eps[i%nEndpoints]
					require.NoError(t, s.Enqueue(ctx, message("acme", fmt.Sprintf("m%03d", i)), []*webhook.Endpoint{ep}))
					perEndpoint[ep.ID]++
				}
				stores := make([]*sqlstore.Store, claimers)
				for i := range stores {
					stores[i] = s
					if separate {
						stores[i] = newStore(t, sqldbtest.Reopen(t, db))
					}
				}

				var (
					mu          sync.Mutex
					holder      = map[string]int{}    // delivery ID → claimer holding it
					claimed     = map[string]bool{}   // delivery IDs ever claimed
					orderedBusy = map[string]string{} // ordered endpoint → delivery out
					orderedSeen = map[string][]int64{}
					done        atomic.Int64
					wg          sync.WaitGroup
				)
				deadline := time.Now().Add(2 * time.Minute)
				for w := range claimers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						st := stores[w]
						for done.Load() < total && time.Now().Before(deadline) {
							batch, err := st.Claim(ctx, t0, time.Hour, 8, 2)
							if !assert.NoError(t, err) {
								return
							}
							if len(batch) == 0 {
								time.Sleep(time.Millisecond)
								continue
							}
							mu.Lock()
							for _, d := range batch {
								if other, ok := holder[d.ID]; ok {
									t.Errorf("delivery %s handed to claimer %d while claimer %d holds it", d.ID, w, other)
								}
								if claimed[d.ID] {
									t.Errorf("delivery %s claimed twice", d.ID)
								}
								holder[d.ID], claimed[d.ID] = w, true
								if ordered[d.EndpointID] {
									if out, ok := orderedBusy[d.EndpointID]; ok {
										t.Errorf("ordered endpoint %s got %s while %s is out", d.EndpointID, d.ID, out)
									}
									orderedBusy[d.EndpointID] = d.ID
									orderedSeen[d.EndpointID] = append(orderedSeen[d.EndpointID], d.Seq)
								}
							}
							mu.Unlock()
							for _, d := range batch {
								mu.Lock()
								delete(holder, d.ID)
								if orderedBusy[d.EndpointID] == d.ID {
									delete(orderedBusy, d.EndpointID) // before Complete commits
								}
								mu.Unlock()
								d.State, d.Attempts = webhook.StateSucceeded, 1
								assert.NoError(t, st.Complete(ctx, d, webhook.Attempt{DeliveryID: d.ID, At: t0, Status: 200}))
								done.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				assert.Len(t, claimed, total, "the claimers did not take every delivery")
				for ep, seqs := range orderedSeen {
					assert.IsIncreasing(t, seqs, "ordered endpoint %s out of order", ep)
					assert.Len(t, seqs, perEndpoint[ep])
				}
				left, err := s.Claim(ctx, t0.Add(2*time.Hour), time.Minute, 100, 100)
				require.NoError(t, err)
				assert.Empty(t, left)
			})
		}
	}
}

// TestClaimSkipsLockedRows: on PostgreSQL a claim passes over rows that
// another transaction holds instead of waiting for them.
func TestClaimSkipsLockedRows(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.OpenPostgres(t)
	s := newStore(t, db)
	ep, ord := endpoint("ep", false), endpoint("ord", true)
	for _, m := range []string{"m1", "m2"} {
		require.NoError(t, s.Enqueue(ctx, message("acme", m), []*webhook.Endpoint{ep}))
	}
	for _, m := range []string{"o1", "o2"} {
		require.NoError(t, s.Enqueue(ctx, message("acme", m), []*webhook.Endpoint{ord}))
	}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT id FROM webhook_deliveries WHERE message_id IN ('m1', 'o1') FOR UPDATE")
	require.NoError(t, err)
	require.NoError(t, rows.Close())

	// The claim runs beside a watch on the server's lock table: a
	// session that waits for a lock on webhook_deliveries is the claim
	// waiting for the locked rows.
	type result struct {
		claimed []*webhook.Delivery
		err     error
	}
	done := make(chan result, 1)
	go func() { c, err := s.Claim(ctx, t0, time.Minute, 10, 10); done <- result{c, err} }()
	var r result
	for waiting := false; ; {
		select {
		case r = <-done:
		default:
			require.NoError(t, db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
				WHERE NOT granted AND pid IN (SELECT pid FROM pg_locks WHERE relation = 'webhook_deliveries'::regclass))`).Scan(&waiting))
			require.False(t, waiting, "the claim waits for the locked rows")
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	claimed, err := r.claimed, r.err
	require.NoError(t, err)
	require.Len(t, claimed, 1, "only m2 is free: o2 waits behind the locked o1")
	assert.Equal(t, "m2", claimed[0].Message.ID)

	require.NoError(t, tx.Rollback())
	claimed, err = s.Claim(ctx, t0, time.Minute, 10, 10)
	require.NoError(t, err)
	var ids []string
	for _, d := range claimed {
		ids = append(ids, d.Message.ID)
	}
	assert.Equal(t, []string{"m1", "o1"}, ids)
}

// TestCompleteAfterErase: a delivery erased while out is ErrNotFound.
func TestCompleteAfterErase(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, b.Open(t))
			require.NoError(t, s.Enqueue(ctx, message("acme", "m1"), []*webhook.Endpoint{endpoint("ep", false)}))
			claimed, err := s.Claim(ctx, t0, time.Minute, 1, 1)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			d := claimed[0]
			d.State = webhook.StateSucceeded
			require.NoError(t, s.Complete(ctx, d, webhook.Attempt{At: t0, Status: 200}))
			n, err := s.EraseSubject(ctx, "acme", "user-1")
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			assert.ErrorIs(t, s.Complete(ctx, d, webhook.Attempt{At: t0}), webhook.ErrNotFound)
			_, err = s.Attempts(ctx, "acme", d.ID)
			assert.ErrorIs(t, err, webhook.ErrNotFound)
		})
	}
}

// TestIdleClaimTakesNoWriteLock: on SQLite, a claim that finds nothing
// due only reads, so idle workers polling often never hold the one write
// lock that senders wait for. Here another process holds that lock, and
// the store does not wait for locks: a claim that wanted it would fail
// with SQLITE_BUSY.
func TestIdleClaimTakesNoWriteLock(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "idle.db")
	db, err := sqldb.Open(ctx, file+"?_busy_timeout=0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st := newStore(t, db)
	require.NoError(t, st.Enqueue(ctx, message("acme", "later"), []*webhook.Endpoint{endpoint("ep1", false)}))
	other := sqldbtest.Reopen(t, db)
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })

	got, err := st.Claim(ctx, t0.Add(-time.Hour), time.Minute, 8, 4) // before the delivery is due
	require.NoError(t, err)
	assert.Empty(t, got)
}

// loopbackCIDRs lets test dispatchers register endpoints on their
// httptest servers.
var loopbackCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestSendTxUsesOnlyTheTransaction: SendTx reads the endpoints in the
// caller's transaction. With a pool of one connection, held by that
// transaction, a read through the pool would wait for good; the test
// watches the pool's wait count instead of a clock.
func TestSendTxUsesOnlyTheTransaction(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			st := newStore(t, db)
			d := newDispatcher(t, st)
			_, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.example.com/x"})
			require.NoError(t, err)
			db.SetMaxOpenConns(1)
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			waitsBefore := db.Stats().WaitCount
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := d.SendTx(ctx, tx, &webhook.Message{TenantID: "acme", EventType: "user.created", Payload: []byte(`{}`)})
				done <- result{n, err}
			}()
			for {
				select {
				case r := <-done:
					require.NoError(t, r.err)
					assert.Equal(t, 1, r.n)
					require.NoError(t, tx.Commit())
					return
				default:
				}
				require.Equal(t, waitsBefore, db.Stats().WaitCount, "SendTx waits for a second connection while its transaction holds the only one")
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// TestAttemptHistoryReadsByIndex: the history query finds a tenant's
// attempts in the window through the (tenant_id, at) index, or one
// endpoint's through (endpoint_id, at), not by
// scanning the log, at the largest window too. PostgreSQL is told to
// avoid sequential scans, which it prefers for a table this small.
func TestAttemptHistoryReadsByIndex(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			s := newStore(t, db)
			w := webhook.WindowEnding(t0, time.Hour, webhook.MaxAttemptBuckets)
			got, err := s.AttemptHistory(ctx, "acme", w)
			require.NoError(t, err)
			assert.Len(t, got, webhook.MaxAttemptBuckets)

			query, args := sqlstore.AttemptHistoryQuery("acme", w)
			plan := queryPlan(t, db, query, args...)
			assert.Contains(t, plan, "webhook_attempts_tenant_at", "the plan:\n%s", plan)

			w.EndpointID = "ep_1" // one endpoint's history: through its own index
			query, args = sqlstore.AttemptHistoryQuery("acme", w)
			plan = queryPlan(t, db, query, args...)
			assert.Contains(t, plan, "webhook_attempts_endpoint_at", "the plan:\n%s", plan)
		})
	}
}

// TestCompleteBatch: a batch records each completion as Complete would,
// attempt rows and all, in one statement on PostgreSQL; a completion
// whose lease was lost is refused alone.
func TestCompleteBatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			s := newStore(t, db)
			e := endpoint("ep1", false)
			require.NoError(t, s.CreateEndpoint(ctx, e))
			for _, id := range []string{"m1", "m2", "m3", "m4"} {
				require.NoError(t, s.Enqueue(ctx, message("acme", id), []*webhook.Endpoint{e}))
			}
			now := time.Now().UTC()
			claimed, err := s.Claim(ctx, now, time.Minute, 4, 4)
			require.NoError(t, err)
			require.Len(t, claimed, 4)
			byMessage := map[string]*webhook.Delivery{}
			for _, d := range claimed {
				byMessage[d.Message.ID] = d
			}
			at := now.Add(time.Second)
			succeeded, retried, postponed, stolen := byMessage["m1"], byMessage["m2"], byMessage["m3"], byMessage["m4"]
			succeeded.State, succeeded.Attempts = webhook.StateSucceeded, 1
			retried.State, retried.Attempts, retried.NextAt, retried.LastError = webhook.StatePending, 1, at.Add(time.Hour), "HTTP 500"
			postponed.NextAt = at.Add(time.Minute)
			stolen.State, stolen.Attempts, stolen.LeaseToken = webhook.StateSucceeded, 1, "another worker's"
			errs := s.CompleteBatch(ctx, []webhook.Completion{
				{Delivery: succeeded, Attempt: webhook.Attempt{DeliveryID: succeeded.ID, At: at, Status: 204, Latency: time.Millisecond, Response: []byte("ok")}},
				{Delivery: retried, Attempt: webhook.Attempt{DeliveryID: retried.ID, At: at, Status: 500, Error: "HTTP 500"}},
				{Delivery: postponed},
				{Delivery: stolen, Attempt: webhook.Attempt{DeliveryID: stolen.ID, At: at, Status: 204}},
			})
			require.Len(t, errs, 4)
			assert.NoError(t, errs[0])
			assert.NoError(t, errs[1])
			assert.NoError(t, errs[2])
			assert.ErrorIs(t, errs[3], webhook.ErrConflict, "a lost lease is refused")

			states := map[string]*webhook.Delivery{}
			all, err := s.Deliveries(ctx, "acme", webhook.DeliveryFilter{})
			require.NoError(t, err)
			for _, d := range all {
				states[d.Message.ID] = d
			}
			assert.Equal(t, webhook.StateSucceeded, states["m1"].State)
			assert.Equal(t, webhook.StatePending, states["m2"].State)
			assert.Equal(t, "HTTP 500", states["m2"].LastError)
			assert.WithinDuration(t, at.Add(time.Hour), states["m2"].NextAt, time.Millisecond)
			assert.Equal(t, 0, states["m3"].Attempts, "postponed without an attempt")
			assert.WithinDuration(t, at.Add(time.Minute), states["m3"].NextAt, time.Millisecond)
			assert.Equal(t, webhook.StatePending, states["m4"].State, "the stolen delivery is left to its lease holder")

			for msg, want := range map[string][]int{"m1": {204}, "m2": {500}, "m3": nil, "m4": nil} {
				attempts, err := s.Attempts(ctx, "acme", states[msg].ID)
				require.NoError(t, err)
				var got []int
				for _, a := range attempts {
					got = append(got, a.Status)
				}
				assert.Equal(t, want, got, msg)
			}
			attempts, err := s.Attempts(ctx, "acme", states["m1"].ID)
			require.NoError(t, err)
			assert.Equal(t, "ok", string(attempts[0].Response))
			assert.Equal(t, time.Millisecond, attempts[0].Latency)
		})
	}
}

// TestSendManyTx: many messages queued in the caller's transaction
// commit or roll back with it, all together.
func TestSendManyTx(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t)
			st := newStore(t, db)
			d := newDispatcher(t, st)
			for _, tenant := range []string{"acme", "globex"} {
				_, _, err := d.CreateEndpoint(ctx, tenant, webhook.EndpointSpec{URL: "https://hooks.example.com/" + tenant})
				require.NoError(t, err)
			}
			batch := func() []*webhook.Message {
				var msgs []*webhook.Message
				for i := range 1200 { // more than one INSERT's worth
					msgs = append(msgs, &webhook.Message{TenantID: []string{"acme", "globex"}[i%2], EventType: "user.created", Payload: []byte(`{}`)})
				}
				return msgs
			}
			count := func() int {
				var n int
				require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM webhook_deliveries").Scan(&n))
				return n
			}
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			n, err := d.SendManyTx(ctx, tx, batch())
			require.NoError(t, err)
			assert.Equal(t, 1200, n)
			require.NoError(t, tx.Rollback())
			assert.Zero(t, count(), "rolled back, yet queued")

			tx, err = db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = d.SendManyTx(ctx, tx, batch())
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			assert.Equal(t, 1200, count())
			acme, err := st.Deliveries(ctx, "acme", webhook.DeliveryFilter{Limit: 1000})
			require.NoError(t, err)
			assert.Len(t, acme, 600)
		})
	}
}
