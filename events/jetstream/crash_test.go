package jetstream_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/natstest"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// The crash test: a relay and a consumer in child processes are killed
// with SIGKILL, again and again, while the test writes events to the
// outbox. Once everything is drained, the stream must hold every event
// exactly once, in order per aggregate, and the consumer must have run
// its handler exactly once per event, in order per aggregate. Where
// nats-server is installed the test runs its own and kills and restarts
// it every few rounds while the children run.
//
// No verdict depends on the wall clock: kill rounds are counted, and
// the checks run only after the outbox is empty and every event was
// handled, however long a busy machine takes to get there.
const (
	crashAggregates = 40
	crashMinRounds  = 4
	crashMaxRounds  = 40
	crashMinWindow  = 150 * time.Millisecond
	crashMaxWindow  = 600 * time.Millisecond
	// crashRestartEvery: every so many rounds the test's own nats-server
	// is killed and started again while the children run.
	crashRestartEvery = 3
)

// crashEvents is how many events flow: 10,000 in a soak run
// (SAASKIT_SOAK=1, as CI sets), 400 otherwise.
func crashEvents() int {
	if os.Getenv("SAASKIT_SOAK") != "" {
		return 10000
	}
	return 400
}

func TestCrashExactlyOnce(t *testing.T) {
	connect(t) // skips, or fails, without a server
	binDir, bin := t.TempDir(), ""
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		db := open(t) // skips, with the reason, when the engine is unavailable
		if bin == "" {
			bin = buildCrashWorker(t, binDir)
		}
		// A server of the test's own, restarted every few rounds, when
		// nats-server is installed; else the shared one, never restarted.
		srv := startServer(t)
		url, restart := natstest.URL(), func() {}
		if srv != nil {
			url, restart = srv.url, srv.restart
		} else {
			t.Log("nats-server is not on PATH: using the shared server, without restarts")
		}
		runCrashTest(t, url, restart, bin, db, crashEvents())
	})
}

// server is a nats-server with JetStream that a test runs and restarts.
type server struct {
	t        *testing.T
	bin, dir string
	port     int
	url      string
	cmd      *exec.Cmd
}

// startServer starts a nats-server with JetStream on a free port, with
// its store in a temporary directory, or returns nil when nats-server
// is not installed.
func startServer(t *testing.T) *server {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &server{t: t, bin: bin, dir: t.TempDir(), port: port, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.cmd = exec.Command(s.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir)
	require.NoError(s.t, s.cmd.Start())
	await.True(s.t, func() bool {
		nc, err := nats.Connect(s.url)
		if err != nil {
			return false
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return false
		}
		_, err = js.AccountInfo(context.Background())
		return err == nil
	}, "nats-server on port %d with JetStream", s.port)
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// restart kills the server with SIGKILL and starts it again on its
// store.
func (s *server) restart() {
	s.stop()
	s.start()
}

func buildCrashWorker(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot build the crash worker")
	}
	bin := filepath.Join(dir, "crashworker")
	out, err := exec.Command(goTool, "build", "-o", bin, "./internal/crashworker").CombinedOutput()
	require.NoError(t, err, "go build ./internal/crashworker: %s", out)
	return bin
}

func runCrashTest(t *testing.T, url string, restart func(), bin string, db *sqldb.DB, n int) {
	ctx := context.Background()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, prefix := newStream(t, js)
	st, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	// n numbers the handler's runs in commit order: one consumer runs at
	// a time, committing one event at a time.
	_, err = db.Exec(`CREATE TABLE crash_handled (n ` + serial(db) + `, event_id TEXT NOT NULL, aggregate_key TEXT NOT NULL, aggregate_seq BIGINT NOT NULL)`)
	require.NoError(t, err)
	dsn := sqldbtest.DSN(t, db)

	start := func(role string) *exec.Cmd {
		cmd := exec.Command(bin, "-role", role, "-dsn", dsn, "-nats", url, "-stream", stream, "-prefix", prefix)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		return cmd
	}
	kill := func(cmds ...*exec.Cmd) {
		for _, c := range cmds {
			_ = c.Process.Kill() // SIGKILL
			_ = c.Wait()
		}
	}

	// The producer writes in small transactions while the children die.
	var written sync.WaitGroup
	var mu sync.Mutex
	done := false
	written.Go(func() {
		for i := 0; i < n; {
			k := min(n-i, 1+rand.IntN(20))
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				for j := range k {
					e := &events.Event{TenantID: "acme", Type: "order.changed", AggregateKey: fmt.Sprintf("order/%d", (i+j)%crashAggregates),
						SubjectKey: "u1", Payload: fmt.Appendf(nil, `{"i":%d}`, i+j)}
					if err := st.AppendTx(ctx, tx, e); err != nil {
						return err
					}
				}
				return nil
			})
			if !assert.NoError(t, err) {
				break
			}
			i += k
		}
		mu.Lock()
		done = true
		mu.Unlock()
	})
	rounds := 0
	for ; rounds < crashMaxRounds; rounds++ {
		mu.Lock()
		finished := done
		mu.Unlock()
		if finished && rounds >= crashMinRounds {
			break
		}
		relay, consumer := start("relay"), start("consumer")
		time.Sleep(crashMinWindow + rand.N(crashMaxWindow-crashMinWindow))
		if rounds%crashRestartEvery == crashRestartEvery-1 {
			restart() // while they run: they back off and resume
			time.Sleep(crashMinWindow)
		}
		kill(relay, consumer)
	}
	written.Wait()
	t.Logf("%d kill rounds", rounds)

	// Left alone, a relay and a consumer drain everything.
	relay, consumer := start("relay"), start("consumer")
	defer kill(relay, consumer)
	await.True(t, func() bool {
		p, err := st.Pending(ctx)
		if err != nil || p > 0 {
			return false
		}
		var handled int
		_ = db.QueryRow(`SELECT COUNT(DISTINCT event_id) FROM crash_handled`).Scan(&handled)
		return handled == n
	}, "everything relayed and handled")
	kill(relay, consumer)

	// The stream: every event once, each aggregate in order.
	msgs := streamMessages(t, js, stream)
	assert.Len(t, msgs, n, "no duplicates and no loss in the stream")
	seen := map[string]bool{}
	next := map[string]int64{}
	for _, m := range msgs {
		e, err := ejs.Decode(m.Subject(), m.Headers(), m.Data())
		require.NoError(t, err)
		assert.False(t, seen[e.ID], "event %s twice in the stream", e.ID)
		seen[e.ID] = true
		next[e.AggregateKey]++
		assert.Equal(t, next[e.AggregateKey], e.AggregateSeq, "stream order of %s", e.AggregateKey)
	}

	// The consumer: every event handled once, each aggregate in order.
	rows, err := db.Query(`SELECT event_id, aggregate_key, aggregate_seq FROM crash_handled ORDER BY n`)
	require.NoError(t, err)
	defer rows.Close()
	handled := map[string]int{}
	order := map[string]int64{}
	total := 0
	for rows.Next() {
		var id, agg string
		var seq int64
		require.NoError(t, rows.Scan(&id, &agg, &seq))
		total++
		handled[id]++
		order[agg]++
		assert.Equal(t, order[agg], seq, "handling order of %s", agg)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, n, total, "each event handled exactly once")
	for id, c := range handled {
		if c != 1 {
			t.Errorf("event %s handled %d times", id, c)
		}
	}
}

// serial is an auto-numbered primary key column.
func serial(db *sqldb.DB) string {
	if db.Dialect == sqldb.SQLite {
		return "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
}
