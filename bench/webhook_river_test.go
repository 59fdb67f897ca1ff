package bench

// Webhook delivery on PostgreSQL, side by side with River
// (github.com/riverqueue/river v0.51.2), the Go job queue for PostgreSQL:
//
//   - deliver/bare-http: the limit. 16 goroutines sign the 1 KiB body with
//     webhook.Signer and post it to the receiver; no queue, no database.
//   - deliver/saaskit/*: b.N messages queued with Dispatcher.SendMany on
//     webhook/sqlstore, then Dispatcher.Run delivers them (16 in flight,
//     the defaults otherwise; PerEndpoint raised to 16 because every
//     message goes to one endpoint). default-pool opens the pool with
//     sql.Open("pgx", dsn) as sqlstore's package doc shows; idle-pool
//     also keeps up to 24 connections open and idle.
//   - deliver/river/*: b.N jobs inserted with Client.InsertMany, then a
//     client with MaxWorkers 16 works them; its worker signs and posts the
//     same body with the same HTTP client as the bare loop. River's
//     defaults but FetchCooldown, 1 ms (default 100 ms, which caps a
//     busy queue at 16 jobs per fetch per 100 ms). sql-default-pool and
//     sql-idle-pool use the riverdatabasesql driver over the same two
//     pools as saaskit; pgxv5 is River's recommended driver over a
//     pgxpool with its defaults.
//   - enqueue/*: b.N messages queued in calls of 5,000: saaskit's
//     Dispatcher.SendMany against River's InsertMany (and InsertManyFast,
//     COPY, on pgxv5). ms/5000-msgs is the time per call.
//   - commit-loop: the database's limit for one-row transactions. 16
//     goroutines, each INSERT of the 1 KiB body its own transaction.
//
// The delivery benchmarks time from starting the workers until the last
// delivery is recorded as done (each library's own event: Subscribe), and
// then check the receiver saw every message and the tables show every
// delivery succeeded. They report deliveries/s, commits/delivery
// (xact_commit of pg_stat_database, read before starting the workers and
// after every connection of the run has closed; it includes each
// library's background work) and backends (sessions opened during the
// run, from the same view), and peak-conns (the largest pool size
// sampled). Every run gets a database of its own, so other users of the
// server do not count, and each benchmark a fresh schema. Nothing waits
// for longer than 5 minutes: a benchmark that has not finished by then
// fails, saying what was missing. Run with
//
//	SAASKIT_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench WebhookPostgres -benchtime 5000x -count 3 .

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

const (
	pgEnvDSN   = "SAASKIT_TEST_POSTGRES_DSN"
	pgInFlight = 16
	pgIdlePool = 24 // SetMaxOpenConns and SetMaxIdleConns of the idle pools
	pgBulk     = 5000
	pgMaxWait  = 5 * time.Minute
)

// pgPayload is a 1 KiB JSON document.
var pgPayload = json.RawMessage(`"` + string(bytes.Repeat([]byte("x"), 1022)) + `"`)

var pgLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// pgQuiet logs warnings and errors only, to stderr, so that the
// benchmark output stays parseable.
var pgQuiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func BenchmarkWebhookPostgres(b *testing.B) {
	dsn := os.Getenv(pgEnvDSN)
	if dsn == "" {
		b.Skip(pgEnvDSN + " is unset: skipping PostgreSQL")
	}
	p := newPGBench(b, dsn)

	b.Run("deliver/bare-http", func(b *testing.B) { benchBareHTTP(b) })
	b.Run("deliver/saaskit/default-pool", func(b *testing.B) { benchSaaskitDeliver(b, p, false) })
	b.Run("deliver/saaskit/idle-pool", func(b *testing.B) { benchSaaskitDeliver(b, p, true) })
	b.Run("deliver/river/sql-default-pool", func(b *testing.B) { benchRiverDeliver(b, p, riverSQL(false)) })
	b.Run("deliver/river/sql-idle-pool", func(b *testing.B) { benchRiverDeliver(b, p, riverSQL(true)) })
	b.Run("deliver/river/pgxv5", func(b *testing.B) { benchRiverDeliver(b, p, riverPgx) })
	b.Run("enqueue/saaskit-SendMany", func(b *testing.B) { benchSaaskitEnqueue(b, p) })
	b.Run("enqueue/river-InsertMany/sql", func(b *testing.B) { benchRiverEnqueue(b, p, riverSQL(false), false) })
	b.Run("enqueue/river-InsertMany/pgxv5", func(b *testing.B) { benchRiverEnqueue(b, p, riverPgx, false) })
	b.Run("enqueue/river-InsertManyFast/pgxv5", func(b *testing.B) { benchRiverEnqueue(b, p, riverPgx, true) })
	b.Run("commit-loop", func(b *testing.B) { benchCommitLoop(b, p) })
}

// pgBench is a database of its own on the server, dropped when the
// benchmark ends, and a connection that watches its statistics.
type pgBench struct {
	dsn string  // the database's URL
	mon *sql.DB // one connection, kept open
}

func newPGBench(b *testing.B, dsn string) *pgBench {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatalf("%s: open: %v", pgEnvDSN, err)
	}
	defer admin.Close()
	name := "saaskit_bench_" + pgRandom()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		b.Fatalf("create database %s (the benchmarks count the commits of a database of their own): %v", name, err)
	}
	b.Cleanup(func() {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			b.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			b.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatalf("%s is not a URL", pgEnvDSN) // the error would print the DSN
	}
	u.Path = "/" + name
	p := &pgBench{dsn: u.String()}
	p.mon, err = sql.Open("pgx", p.dsn)
	if err != nil {
		b.Fatal(err)
	}
	p.mon.SetMaxOpenConns(1)
	p.mon.SetMaxIdleConns(1)
	p.mon.SetConnMaxIdleTime(0)
	p.mon.SetConnMaxLifetime(0)
	b.Cleanup(func() { _ = p.mon.Close() })
	if err := p.mon.Ping(); err != nil {
		b.Fatalf("connect to database %s: %v", name, err)
	}
	return p
}

func pgRandom() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// schema creates a fresh schema, dropped when b ends, and returns its
// name and a URL whose connections use it.
func (p *pgBench) schema(b *testing.B) (string, string) {
	name := "b_" + pgRandom()
	if _, err := p.mon.Exec("CREATE SCHEMA " + name); err != nil {
		b.Fatalf("create schema %s: %v", name, err)
	}
	b.Cleanup(func() {
		if _, err := p.mon.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, _ := url.Parse(p.dsn)
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return name, u.String()
}

// pgCounters are the database's cumulative statistics.
type pgCounters struct{ commits, sessions int64 }

func (p *pgBench) counters(b *testing.B) pgCounters {
	var c pgCounters
	if err := p.mon.QueryRow("SELECT xact_commit, sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&c.commits, &c.sessions); err != nil {
		b.Fatalf("read pg_stat_database: %v", err)
	}
	return c
}

// settled returns the counters once every connection but the watcher's
// has ended: a backend reports its statistics before it leaves
// pg_stat_database.numbackends.
func (p *pgBench) settled(ctx context.Context, b *testing.B) pgCounters {
	for {
		var n int
		if err := p.mon.QueryRowContext(ctx, "SELECT numbackends FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
			b.Fatalf("waiting for the run's connections to close: %v", err)
		}
		if n <= 1 {
			return p.counters(b)
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d connections to the benchmark's database still open after the run was stopped", n-1)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// count returns how many rows of table are in each state.
func (p *pgBench) count(b *testing.B, table, column string) map[string]int {
	rows, err := p.mon.Query("SELECT " + column + ", COUNT(*) FROM " + table + " GROUP BY 1")
	if err != nil {
		b.Fatalf("count %s: %v", table, err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			b.Fatal(err)
		}
		got[s] = n
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return got
}

// openPool opens dsn with pgx's database/sql driver: as sql.Open leaves
// it, or with pgIdlePool connections kept open and idle.
func openPool(b *testing.B, dsn string, idle bool) *sql.DB {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	if idle {
		db.SetMaxOpenConns(pgIdlePool)
		db.SetMaxIdleConns(pgIdlePool)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Ping(); err != nil {
		b.Fatal(err)
	}
	return db
}

// peak samples size every millisecond until stop is called, which
// returns the largest value seen.
func peak(size func() int) (stop func() int) {
	var m atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if n := int64(size()); n > m.Load() {
				m.Store(n)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() int { close(quit); <-done; return int(m.Load()) }
}

// pgReceiver is a loopback endpoint answering 204 that counts distinct
// webhook-ids.
type pgReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	seen  map[string]struct{}
	posts int
	all   chan struct{} // closed when want distinct ids have arrived
	want  int
}

func newPGReceiver(b *testing.B, want int) *pgReceiver {
	r := &pgReceiver{seen: make(map[string]struct{}, want), all: make(chan struct{}), want: want}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.posts++
		if _, ok := r.seen[id]; !ok {
			r.seen[id] = struct{}{}
			if len(r.seen) == r.want {
				close(r.all)
			}
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.Close)
	return r
}

func (r *pgReceiver) counts() (distinct, posts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen), r.posts
}

// waitAll waits until every message has arrived.
func (r *pgReceiver) waitAll(ctx context.Context, b *testing.B) {
	select {
	case <-r.all:
	case <-ctx.Done():
		d, p := r.counts()
		b.Fatalf("receiver saw %d of %d messages (%d posts) within %s", d, r.want, p, pgMaxWait)
	}
}

// pgHTTPClient is the client of the bare loop and of River's worker: a
// transport that keeps a connection per worker.
func pgHTTPClient(b *testing.B) *http.Client {
	t := &http.Transport{MaxIdleConnsPerHost: pgInFlight, MaxConnsPerHost: pgInFlight}
	b.Cleanup(t.CloseIdleConnections)
	return &http.Client{Transport: t, Timeout: 15 * time.Second}
}

// postSigned signs body as message id and posts it to url; a status
// other than 2xx is an error.
func postSigned(ctx context.Context, c *http.Client, url string, s *webhook.Signer, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.SetHeaders(req.Header, id, time.Now(), body); err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}

func pgSigner(b *testing.B) *webhook.Signer {
	s, err := webhook.NewSigner(webhook.NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func msgID(i int) string { return fmt.Sprint("msg_", i) }

func benchBareHTTP(b *testing.B) {
	rcv := newPGReceiver(b, b.N)
	client, signer := pgHTTPClient(b), pgSigner(b)
	ctx, cancel := context.WithTimeout(context.Background(), pgMaxWait)
	defer cancel()
	work := make(chan int)
	errs := make(chan error, pgInFlight)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range pgInFlight {
		wg.Go(func() {
			for i := range work {
				if err := postSigned(ctx, client, rcv.URL, signer, msgID(i), pgPayload); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() {
		defer close(work)
		for i := range b.N {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-rcv.all:
	case err := <-errs:
		cancel()
		b.Fatalf("post: %v", err)
	case <-ctx.Done():
	}
	rcv.waitAll(ctx, b)
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}

// saaskitDispatcher returns a dispatcher over a migrated sqlstore on db,
// with one endpoint at url, and the fake KMS sealing its secret.
func saaskitDispatcher(b *testing.B, db *sql.DB, url string) *webhook.Dispatcher {
	ctx := context.Background()
	st, err := sqlstore.New(db)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	uri, err := fakekms.NewKeyURI()
	if err != nil {
		b.Fatal(err)
	}
	aead, err := fakekms.NewAEAD(uri)
	if err != nil {
		b.Fatal(err)
	}
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: pgLoopback})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: url}); err != nil {
		b.Fatal(err)
	}
	return d
}

func saaskitMessages(from, to int) []*webhook.Message {
	msgs := make([]*webhook.Message, 0, to-from)
	for i := from; i < to; i++ {
		msgs = append(msgs, &webhook.Message{ID: msgID(i), TenantID: "acme", EventType: "bench", Payload: pgPayload})
	}
	return msgs
}

func benchSaaskitDeliver(b *testing.B, p *pgBench, idle bool) {
	n := b.N
	schema, dsn := p.schema(b)
	db := openPool(b, dsn, idle)
	rcv := newPGReceiver(b, n)
	d := saaskitDispatcher(b, db, rcv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), pgMaxWait)
	defer cancel()
	for i := 0; i < n; i += pgBulk {
		if _, err := d.SendMany(ctx, saaskitMessages(i, min(i+pgBulk, n))); err != nil {
			b.Fatalf("queue messages: %v", err)
		}
	}
	outcomes, unsubscribe := d.Subscribe(n + 64)
	defer unsubscribe()
	opts := webhook.WorkerOptions{
		Concurrency: pgInFlight,
		PerEndpoint: pgInFlight, // one endpoint: let it have every slot
		Client:      webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: pgLoopback}),
	}
	runCtx, stopRun := context.WithCancel(ctx)
	running := make(chan struct{})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopRun()
			<-running
		}
	}
	defer stop()

	before := p.counters(b)
	conns := peak(func() int { return db.Stats().OpenConnections })
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { defer close(running); _ = d.Run(runCtx, opts) }()
	for done := 0; done < n; {
		select {
		case o := <-outcomes:
			if o.Delivery.State != webhook.StateSucceeded {
				b.Fatalf("delivery %s is %s after attempt %d: status %d, %s", o.Delivery.ID, o.Delivery.State, o.Delivery.Attempts, o.Attempt.Status, o.Attempt.Error)
			}
			done++
		case <-ctx.Done():
			d, posts := rcv.counts()
			b.Fatalf("%d of %d deliveries recorded as succeeded within %s (the receiver saw %d messages, %d posts)", done, n, pgMaxWait, d, posts)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rcv.waitAll(ctx, b)
	stop()
	peakConns := conns()
	stats := db.Stats()
	_ = db.Close()
	after := p.settled(ctx, b)
	if got := p.count(b, schema+".webhook_deliveries", "state"); got[string(webhook.StateSucceeded)] != n || len(got) != 1 {
		b.Fatalf("want %d deliveries succeeded in the store, have %v", n, got)
	}
	b.Logf("n=%d: pool %+v", n, stats)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.commits-before.commits)/float64(n), "commits/delivery")
	b.ReportMetric(float64(after.sessions-before.sessions), "backends")
	b.ReportMetric(float64(peakConns), "peak-conns")
}

// riverHookArgs is the River job for one webhook message.
type riverHookArgs struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (riverHookArgs) Kind() string { return "webhook_post" }

// riverHookWorker signs and posts a message as the bare loop does.
type riverHookWorker struct {
	river.WorkerDefaults[riverHookArgs]
	url    string
	client *http.Client
	signer *webhook.Signer
}

func (w *riverHookWorker) Work(ctx context.Context, job *river.Job[riverHookArgs]) error {
	return postSigned(ctx, w.client, w.url, w.signer, job.Args.ID, job.Args.Payload)
}

// riverDriver opens a River driver on dsn, returning the pool's size
// and a function closing it.
type riverDriver[TTx any] func(b *testing.B, dsn string) (drv riverdriver.Driver[TTx], size func() int, close func())

func riverSQL(idle bool) riverDriver[*sql.Tx] {
	return func(b *testing.B, dsn string) (riverdriver.Driver[*sql.Tx], func() int, func()) {
		db := openPool(b, dsn, idle)
		return riverdatabasesql.New(db), func() int { return db.Stats().OpenConnections }, func() { _ = db.Close() }
	}
}

func riverPgx(b *testing.B, dsn string) (riverdriver.Driver[pgx.Tx], func() int, func()) {
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := pool.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return riverpgxv5.New(pool), func() int { return int(pool.Stat().TotalConns()) }, pool.Close
}

// riverClient migrates River into schema and returns a client whose
// worker posts to url.
func riverClient[TTx any](b *testing.B, drv riverdriver.Driver[TTx], schema, url string) *river.Client[TTx] {
	ctx := context.Background()
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Schema: schema, Logger: pgQuiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("river migrate: %v", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &riverHookWorker{url: url, client: pgHTTPClient(b), signer: pgSigner(b)})
	c, err := river.NewClient(drv, &river.Config{
		Schema:        schema,
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: pgInFlight}},
		Workers:       workers,
		FetchCooldown: time.Millisecond,
		Logger:        pgQuiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func riverJobs(from, to int) []river.InsertManyParams {
	jobs := make([]river.InsertManyParams, 0, to-from)
	for i := from; i < to; i++ {
		jobs = append(jobs, river.InsertManyParams{Args: riverHookArgs{ID: msgID(i), Payload: pgPayload}})
	}
	return jobs
}

func benchRiverDeliver[TTx any](b *testing.B, p *pgBench, open riverDriver[TTx]) {
	n := b.N
	schema, dsn := p.schema(b)
	drv, size, closePool := open(b, dsn)
	rcv := newPGReceiver(b, n)
	c := riverClient(b, drv, schema, rcv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), pgMaxWait)
	defer cancel()
	for i := 0; i < n; i += pgBulk {
		if _, err := c.InsertMany(ctx, riverJobs(i, min(i+pgBulk, n))); err != nil {
			b.Fatalf("insert jobs: %v", err)
		}
	}
	events, unsubscribe := c.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n + 64, // River drops events that find the channel full
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	defer unsubscribe()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := c.Stop(ctx); err != nil {
				b.Errorf("stop river: %v", err)
			}
		}
	}
	defer stop()

	before := p.counters(b)
	conns := peak(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		b.Fatalf("start river: %v", err)
	}
	for done := 0; done < n; {
		select {
		case e := <-events:
			if e.Kind != river.EventKindJobCompleted {
				var last string
				if len(e.Job.Errors) > 0 {
					last = e.Job.Errors[len(e.Job.Errors)-1].Error
				}
				b.Fatalf("job %d (%s) is %s after attempt %d: %s", e.Job.ID, e.Kind, e.Job.State, e.Job.Attempt, last)
			}
			done++
		case <-ctx.Done():
			d, posts := rcv.counts()
			b.Fatalf("%d of %d jobs completed within %s (the receiver saw %d messages, %d posts)", done, n, pgMaxWait, d, posts)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rcv.waitAll(ctx, b)
	stop()
	peakConns := conns()
	closePool()
	after := p.settled(ctx, b)
	if got := p.count(b, schema+".river_job", "state::text"); got["completed"] != n || len(got) != 1 {
		b.Fatalf("want %d jobs completed in river_job, have %v", n, got)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.commits-before.commits)/float64(n), "commits/delivery")
	b.ReportMetric(float64(after.sessions-before.sessions), "backends")
	b.ReportMetric(float64(peakConns), "peak-conns")
}

// reportBulk reports the time per call of pgBulk messages.
func reportBulk(b *testing.B, elapsed time.Duration) {
	b.ReportMetric(elapsed.Seconds()*1000/float64(b.N)*pgBulk, "ms/5000-msgs")
}

func benchSaaskitEnqueue(b *testing.B, p *pgBench) {
	schema, dsn := p.schema(b)
	db := openPool(b, dsn, false)
	d := saaskitDispatcher(b, db, "http://127.0.0.1:9/")
	ctx := context.Background()
	var batches [][]*webhook.Message
	for i := 0; i < b.N; i += pgBulk {
		batches = append(batches, saaskitMessages(i, min(i+pgBulk, b.N)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, msgs := range batches {
		if _, err := d.SendMany(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := p.count(b, schema+".webhook_deliveries", "state"); got[string(webhook.StatePending)] != b.N {
		b.Fatalf("want %d deliveries pending, have %v", b.N, got)
	}
	reportBulk(b, elapsed)
}

func benchRiverEnqueue[TTx any](b *testing.B, p *pgBench, open riverDriver[TTx], fast bool) {
	schema, dsn := p.schema(b)
	drv, _, _ := open(b, dsn)
	c := riverClient(b, drv, schema, "http://127.0.0.1:9/")
	ctx := context.Background()
	var batches [][]river.InsertManyParams
	for i := 0; i < b.N; i += pgBulk {
		batches = append(batches, riverJobs(i, min(i+pgBulk, b.N)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, jobs := range batches {
		var err error
		if fast {
			_, err = c.InsertManyFast(ctx, jobs)
		} else {
			_, err = c.InsertMany(ctx, jobs)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := p.count(b, schema+".river_job", "state::text"); got["available"] != b.N {
		b.Fatalf("want %d jobs available, have %v", b.N, got)
	}
	reportBulk(b, elapsed)
}

func benchCommitLoop(b *testing.B, p *pgBench) {
	_, dsn := p.schema(b)
	db := openPool(b, dsn, true)
	if _, err := db.Exec("CREATE TABLE commit_loop (id BIGSERIAL PRIMARY KEY, body JSONB NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgMaxWait)
	defer cancel()
	var next atomic.Int64
	errs := make(chan error, pgInFlight)
	var wg sync.WaitGroup
	before := p.counters(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range pgInFlight {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := db.ExecContext(ctx, "INSERT INTO commit_loop (body) VALUES ($1)", []byte(pgPayload)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatalf("insert: %v", err)
	default:
	}
	_ = db.Close()
	after := p.settled(ctx, b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(after.commits-before.commits)/float64(b.N), "commits/insert")
}
