package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// The crash test: webhook workers in child processes are killed with
// SIGKILL, again and again, while they deliver; every message must still
// reach the receiver, and end succeeded in the store. A quarter of the
// messages go to an ordered endpoint, in crashKeys sequences by ordering
// key: none may reach it before the one before it in its sequence was
// answered 200.
//
// No verdict depends on the wall clock: the kill rounds are counted, not
// timed, and loss is reported only when nothing is pending, so a slow
// machine makes the test slower, never wrong.
const (
	crashTenant    = "acme"
	crashFailEvery = 50 // the first attempt of every 50th message gets a 500
	crashMinRounds = 3
	crashMaxRounds = 30 // then one worker, left alone, delivers the rest
	crashWorkers   = 2  // children per kill round
	crashMinWindow = 200 * time.Millisecond
	crashMaxWindow = 800 * time.Millisecond
	crashSenders   = 4
	crashKeys      = 20 // ordering keys; a multiple of crashSenders, so one sender sends each key's messages
)

// crashOrdered reports whether message i goes to the ordered endpoint:
// four in every sixteen, so that every sender and key has some.
func crashOrdered(i int) bool { return i%16 < 4 }

// crashKey is the ordering key of message i.
func crashKey(i int) string { return fmt.Sprintf("key-%02d", i%crashKeys) }

// crashBefore returns the message before ordered message i in its
// ordering key's sequence, or -1.
func crashBefore(i int) int {
	for j := i - crashKeys; j >= 0; j -= crashKeys {
		if crashOrdered(j) {
			return j
		}
	}
	return -1
}

// crashMessages is how many messages the crash test sends: 10,000 in a
// soak run (SAASKIT_SOAK=1, as CI sets), 500 otherwise.
func crashMessages() int {
	if os.Getenv("SAASKIT_SOAK") != "" {
		return 10000
	}
	return 500
}

func TestCrashAtLeastOnce(t *testing.T) {
	n := crashMessages()
	backends := sqldbtest.Engines
	binDir, bin := t.TempDir(), ""
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t) // skips, with the reason, when the engine is unavailable
			if bin == "" {
				bin = buildCrashWorker(t, binDir)
			}
			runCrashTest(t, bin, db, n)
		})
	}
}

// buildCrashWorker builds the worker program into dir, without -race: it
// is the process under test, and being killed is all that happens to it.
func buildCrashWorker(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot build the crash worker")
	}
	bin := filepath.Join(dir, "crashworker")
	start := time.Now()
	out, err := exec.Command(goTool, "build", "-o", bin, "./internal/crashworker").CombinedOutput()
	require.NoError(t, err, "go build ./internal/crashworker: %s", out)
	t.Logf("built the crash worker in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// crashReceiver is both endpoints (/hook and /ordered): it verifies
// each request and counts, per message index, the requests it received
// and the ones it answered 200.
type crashReceiver struct {
	n                 int
	latency           time.Duration // how long it takes to answer
	verifier, ordered atomic.Pointer[webhook.Verifier]

	mu          sync.Mutex
	received    []int // requests per message
	acked       []int // 200 answers per message
	ackedTotal  int   // messages answered 200 at least once
	failed      int   // 500s sent on purpose
	strays      []string
	bad         []string // requests that failed verification or carried a wrong body
	outOfOrder  []string // ordered messages that came before the one before them was answered 200
	inFlight    int      // requests whose worker waits for the answer
	maxInFlight int
}

// newCrashReceiver returns the receiver of n messages. It answers after
// a latency long enough that no two kill rounds can deliver them all:
// each of the 2 workers of a round has at most 16 requests in flight
// (internal/crashworker's Concurrency), each takes the latency, so two
// rounds of at most 800ms see at most 2*2*16*(800ms/latency+1)
// requests: 5,184 for 10,000 messages, 320 for 500. The latency also makes
// the kills land while requests are in flight, not only between them.
func newCrashReceiver(n int) *crashReceiver {
	return &crashReceiver{n: n, latency: 100 * time.Second / time.Duration(n), received: make([]int, n), acked: make([]int, n)}
}

func crashMessageID(i int) string { return fmt.Sprintf("msg_%05d", i) }

func crashPayload(i int) []byte { return fmt.Appendf(nil, `{"n":%d}`, i) }

// index returns the message number in a webhook-id, or -1.
func (rc *crashReceiver) index(id string) int {
	s, ok := strings.CutPrefix(id, "msg_")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= rc.n || crashMessageID(i) != id {
		return -1
	}
	return i
}

func (rc *crashReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the worker died while sending: nothing was delivered
	}
	id := r.Header.Get("webhook-id")
	i := rc.index(id)
	v, ordered := rc.verifier.Load(), r.URL.Path == "/ordered"
	if ordered {
		v = rc.ordered.Load()
	}
	var problem string
	switch {
	case v == nil:
		problem = "no verifier yet"
	case i >= 0 && !bytes.Equal(body, crashPayload(i)):
		problem = fmt.Sprintf("body %q", body)
	case i >= 0 && ordered != crashOrdered(i):
		problem = "sent to the wrong endpoint: " + r.URL.Path
	default:
		if err := v.Verify(r.Header, body); err != nil {
			problem = "signature: " + err.Error()
		}
	}

	rc.mu.Lock()
	rc.inFlight++
	rc.maxInFlight = max(rc.maxInFlight, rc.inFlight)
	status := http.StatusOK
	switch {
	case i < 0:
		rc.strays = append(rc.strays, id)
		status = http.StatusBadRequest
	case problem != "":
		rc.bad = append(rc.bad, id+": "+problem)
		status = http.StatusBadRequest
	case i%crashFailEvery == 0 && rc.received[i] == 0:
		rc.failed++
		status = http.StatusInternalServerError
	}
	if i >= 0 && ordered && rc.received[i] == 0 {
		if before := crashBefore(i); before >= 0 && rc.acked[before] == 0 {
			rc.outOfOrder = append(rc.outOfOrder, fmt.Sprintf("%s came before %s was delivered", id, crashMessageID(before)))
		}
	}
	if i >= 0 {
		rc.received[i]++
		if status == http.StatusOK {
			if rc.acked[i] == 0 {
				rc.ackedTotal++
			}
			rc.acked[i]++
		}
	}
	rc.mu.Unlock()

	// Take the latency, unless the worker is killed first: then count
	// the request out of flight at once.
	select {
	case <-time.After(rc.latency):
	case <-r.Context().Done():
	}
	w.WriteHeader(status)
	rc.mu.Lock()
	rc.inFlight--
	rc.mu.Unlock()
}

// missing returns how many messages have not been answered 200 yet, and
// the first few of them.
func (rc *crashReceiver) missing() (int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var first []string
	for i, a := range rc.acked {
		if a == 0 && len(first) < 10 {
			first = append(first, crashMessageID(i))
		}
	}
	return rc.n - rc.ackedTotal, first
}

// crashChild is a running worker process.
type crashChild struct {
	cmd   *exec.Cmd
	done  chan error    // receives Wait's result
	ready chan struct{} // closed when the worker says it handles SIGTERM
}

// crashReadyWriter passes a child's standard output on to w and closes ready
// when the child prints its ready line.
type crashReadyWriter struct {
	w     io.Writer
	ready chan struct{}
	once  sync.Once
}

func (rw *crashReadyWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("crashworker: ready")) {
		rw.once.Do(func() { close(rw.ready) })
	}
	return rw.w.Write(p)
}

func runCrashTest(t *testing.T, bin string, db *sqldb.DB, n int) {
	ctx := context.Background()
	begin := time.Now()
	st, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))

	rc := newCrashReceiver(n)
	srv := httptest.NewServer(rc) // listens on 127.0.0.1
	t.Cleanup(srv.Close)

	keyURI, err := fakekms.NewKeyURI() // the keyset travels in the URI
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(keyURI)
	require.NoError(t, err)
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: loopbackCIDRs})
	require.NoError(t, err)
	ep, secret, err := d.CreateEndpoint(ctx, crashTenant, webhook.EndpointSpec{URL: srv.URL + "/hook", EventTypes: []string{"crash.test"}})
	require.NoError(t, err)
	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, secret)
	require.NoError(t, err)
	rc.verifier.Store(v)
	ordered, secret, err := d.CreateEndpoint(ctx, crashTenant, webhook.EndpointSpec{URL: srv.URL + "/ordered", EventTypes: []string{"crash.ordered"}, Ordered: true})
	require.NoError(t, err)
	v, err = webhook.NewVerifier(webhook.VerifyOptions{}, secret)
	require.NoError(t, err)
	rc.ordered.Store(v)

	// The children's log, shared; shown when the test fails.
	logPath := filepath.Join(t.TempDir(), "workers.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = logFile.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log tail:\n%s", crashTail(logPath, 8<<10))
		}
	})

	env := append(os.Environ(), "CRASHWORKER_DSN="+sqldbtest.DSN(t, db), "CRASHWORKER_KEY_URI="+keyURI)
	live := map[*crashChild]bool{}
	t.Cleanup(func() { // a failed test leaves none behind
		for c := range live {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	start := func() *crashChild {
		cmd := exec.Command(bin)
		c := &crashChild{cmd: cmd, done: make(chan error, 1), ready: make(chan struct{})}
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &crashReadyWriter{w: logFile, ready: c.ready}, logFile
		require.NoError(t, cmd.Start())
		go func() { c.done <- cmd.Wait() }()
		live[c] = true
		return c
	}
	// kill SIGKILLs c and fails the test if it had exited by itself.
	kill := func(c *crashChild) {
		select {
		case err := <-c.done:
			delete(live, c)
			t.Fatalf("worker %d exited before it was killed: %v", c.cmd.Process.Pid, err)
		default:
		}
		require.NoError(t, c.cmd.Process.Kill())
		<-c.done
		delete(live, c)
	}

	// Producers send every message while the workers are killed, round
	// after round: Send from four goroutines, concurrently with the kill
	// rounds, as a service keeps sending whatever its workers go through.
	// Sender w sends the messages i = w mod 4 in turn, so each ordering
	// key's messages are sent one after the other, in index order.
	sendCtx, stopSending := context.WithCancel(ctx)
	var (
		senders  sync.WaitGroup
		sendErr  = make([]error, crashSenders)
		sent     = make(chan struct{})
		sendTime time.Duration
	)
	sendStart := time.Now()
	for w := range sendErr {
		senders.Go(func() {
			for i := w; i < n; i += crashSenders {
				msg := &webhook.Message{ID: crashMessageID(i), TenantID: crashTenant, EventType: "crash.test", Payload: crashPayload(i)}
				if crashOrdered(i) {
					msg.EventType, msg.OrderingKey = "crash.ordered", crashKey(i)
				}
				k, err := d.Send(sendCtx, msg)
				if err == nil && k != 1 {
					err = fmt.Errorf("message %s queued %d deliveries, want 1", msg.ID, k)
				}
				if err != nil {
					sendErr[w] = err
					return
				}
			}
		})
	}
	go func() { senders.Wait(); sendTime = time.Since(sendStart); close(sent) }()
	t.Cleanup(func() { stopSending(); <-sent })
	// allSent reports whether every Send has returned; it fails the test
	// if one failed.
	allSent := func() bool {
		select {
		case <-sent:
			require.NoError(t, errors.Join(sendErr...), "send")
			return true
		default:
			return false
		}
	}

	// Kill rounds: start workers, SIGKILL them mid-flight, until every
	// message has been sent and answered 200 at least once, or for
	// crashMaxRounds rounds.
	killStart := time.Now()
	rounds := 0
	for rounds < crashMaxRounds {
		if left, _ := rc.missing(); left == 0 && allSent() {
			break
		}
		children := make([]*crashChild, crashWorkers)
		for i := range children {
			children[i] = start()
		}
		window := crashMinWindow + rand.N(crashMaxWindow-crashMinWindow+1)
		time.Sleep(window)
		for _, c := range children {
			kill(c)
		}
		rounds++
		left, _ := rc.missing()
		t.Logf("round %d: ran %v, killed %d workers; %d messages not yet delivered", rounds, window.Round(time.Millisecond), crashWorkers, left)
	}
	killTime := time.Since(killStart)

	// One worker, left alone, finishes what the killed ones had leased,
	// the retries and whatever is left, until every message has been
	// sent and nothing is pending. It takes as long as it takes: only the
	// test's own time limit ends the wait, and says so.
	drainStart := time.Now()
	last := start()
	select {
	case <-last.ready:
	case err := <-last.done:
		delete(live, last)
		t.Fatalf("the last worker exited before it was ready: %v", err)
	}
	for !allSent() || crashCountDeliveries(t, st, webhook.StatePending) > 0 {
		if crashOutOfTime(t) {
			left, _ := rc.missing()
			t.Fatalf("the test's time limit is near and the worker is still draining: %d deliveries pending, %d messages not yet delivered (slowness, not a loss; raise -timeout)",
				crashCountDeliveries(t, st, webhook.StatePending), left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, last.cmd.Process.Signal(syscall.SIGTERM))
	err = <-last.done
	delete(live, last)
	assert.NoError(t, err, "the last worker did not shut down cleanly on SIGTERM")
	drainTime := time.Since(drainStart)

	// Every message reached the receiver, nothing else did, and the store
	// holds every delivery succeeded.
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Empty(t, rc.strays, "requests with a webhook-id that was never sent")
	assert.Empty(t, rc.bad, "requests that failed verification")
	assert.Empty(t, rc.outOfOrder, "ordered messages out of their key's order")
	var never []string
	requests, duplicated, extra := 0, 0, 0
	for i := range n {
		requests += rc.received[i]
		switch a := rc.acked[i]; {
		case a == 0:
			never = append(never, crashMessageID(i))
		case a > 1:
			duplicated++
			extra += a - 1
		}
	}
	assert.Empty(t, never, "messages that never reached the receiver")
	assert.Equal(t, (n+crashFailEvery-1)/crashFailEvery, rc.failed, "first attempts answered 500")
	assert.GreaterOrEqual(t, rounds, crashMinRounds, "kill rounds: the workers finished too soon to be killed mid-flight")
	assert.Zero(t, crashCountDeliveries(t, st, webhook.StatePending), "deliveries pending")
	assert.Zero(t, crashCountDeliveries(t, st, webhook.StateDead), "deliveries dead")
	assert.Equal(t, n, crashCountDeliveries(t, st, webhook.StateSucceeded), "deliveries succeeded")
	for _, id := range []string{ep.ID, ordered.ID} {
		if e, err := st.GetEndpoint(ctx, crashTenant, id); assert.NoError(t, err) {
			assert.Empty(t, e.DisabledReason, "endpoint %s was disabled", id)
		}
	}

	logText, err := os.ReadFile(logPath)
	require.NoError(t, err)
	t.Logf("%s: %d messages to endpoints %s and %s (ordered), sent in %v; %d kill rounds (%v), then one worker drained for %v; total %v",
		db.Dialect, n, ep.ID, ordered.ID, sendTime.Round(time.Millisecond), rounds, killTime.Round(time.Millisecond),
		drainTime.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	t.Logf("receiver: %d requests, %d answered 500 on purpose, %d messages delivered more than once (%d duplicate deliveries), at most %d requests in flight",
		requests, rc.failed, duplicated, extra, rc.maxInFlight)
	t.Logf("workers logged %d lost leases (\"not recorded\") and %d errors",
		bytes.Count(logText, []byte("webhook delivery not recorded")), bytes.Count(logText, []byte(" ERROR ")))
}

// crashOutOfTime reports whether t's deadline (go test -timeout) is less
// than a minute away, leaving time to report and clean up.
func crashOutOfTime(t *testing.T) bool {
	deadline, ok := t.Deadline()
	return ok && time.Until(deadline) < time.Minute
}

// crashCountDeliveries counts the tenant's deliveries in state, page by page.
func crashCountDeliveries(t *testing.T, st *sqlstore.Store, state webhook.DeliveryState) int {
	t.Helper()
	n := 0
	for after := ""; ; {
		page, err := st.Deliveries(context.Background(), crashTenant, webhook.DeliveryFilter{State: state, AfterID: after})
		require.NoError(t, err)
		if len(page) == 0 {
			return n
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
}

// crashTail returns up to the last size bytes of the file at path.
func crashTail(path string, size int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[len(b)-min(size, len(b)):])
}
