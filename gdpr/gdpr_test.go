package gdpr_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditmem "github.com/saaskit/saaskit/gdpr/audit/memstore"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/internal/testclock"
)

var t0 = time.Date(2026, 1, 30, 10, 0, 0, 0, time.UTC) // a Friday

func TestDeadlines(t *testing.T) {
	_, due, err := gdpr.Deadlines(gdpr.GDPR, time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC), due, "one month: the month's last day when it is shorter")
	_, due, _ = gdpr.Deadlines(gdpr.GDPR, time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC))
	assert.Equal(t, time.Date(2026, 4, 15, 9, 0, 0, 0, time.UTC), due)
	ack, due, err := gdpr.Deadlines(gdpr.CCPA, t0)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 2, 13, 10, 0, 0, 0, time.UTC), ack, "10 business days after a Friday is the Friday two weeks on")
	assert.Equal(t, t0.AddDate(0, 0, 45), due)
	_, _, err = gdpr.Deadlines("hipaa", t0)
	assert.ErrorIs(t, err, gdpr.ErrInvalid)
}

// fakeSource holds records per subject in memory and counts erasures;
// failNext makes its next erasure fail.
type fakeSource struct {
	info     gdpr.SourceInfo
	mu       sync.Mutex
	records  map[string][]string // user_id -> records
	erasures int
	failNext bool
	log      *[]string // shared log of erasure starts and ends
}

func newFake(name string, log *[]string, after ...string) *fakeSource {
	return &fakeSource{info: gdpr.SourceInfo{Name: name, Categories: []string{"contact"}, After: after}, records: map[string][]string{}, log: log}
}

func (f *fakeSource) Info() gdpr.SourceInfo { return f.info }

func (f *fakeSource) Export(_ context.Context, _ string, s gdpr.Subject, emit func(any) error) error {
	f.mu.Lock()
	recs := slices.Clone(f.records[s.Value("user_id")])
	f.mu.Unlock()
	for _, r := range recs {
		if err := emit(map[string]string{"value": r}); err != nil {
			return err
		}
	}
	return nil
}

var logMu sync.Mutex

func (f *fakeSource) note(event string) {
	logMu.Lock()
	defer logMu.Unlock()
	*f.log = append(*f.log, event+" "+f.info.Name)
}

func (f *fakeSource) Erase(_ context.Context, _ string, s gdpr.Subject) (gdpr.Erased, error) {
	f.note("start")
	defer f.note("end")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext {
		f.failNext = false
		return gdpr.Erased{}, errors.New("disk on fire")
	}
	n := len(f.records[s.Value("user_id")])
	delete(f.records, s.Value("user_id"))
	f.erasures++
	return gdpr.Erased{Records: n}, nil
}

var ada = gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}, {Kind: "email", Value: "ada@example.com"}}}

func TestNewRefusesBadSources(t *testing.T) {
	var log []string
	st := memstore.New()
	_, err := gdpr.New(st, gdpr.Options{}, newFake("a", &log), newFake("a", &log))
	assert.ErrorContains(t, err, "two sources")
	_, err = gdpr.New(st, gdpr.Options{}, newFake("Bad Name", &log))
	assert.ErrorIs(t, err, gdpr.ErrInvalid)
	_, err = gdpr.New(st, gdpr.Options{}, newFake("manifest", &log))
	assert.ErrorIs(t, err, gdpr.ErrInvalid, "a ZIP export's manifest.json would be written twice")
	_, err = gdpr.New(st, gdpr.Options{}, newFake("a", &log, "ghost"))
	assert.ErrorContains(t, err, "ghost")
	_, err = gdpr.New(st, gdpr.Options{}, newFake("a", &log, "c"), newFake("b", &log, "a"), newFake("c", &log, "b"))
	assert.ErrorContains(t, err, "cycle")
}

func TestRequestLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New(t0)
	var log []string
	e, err := gdpr.New(memstore.New(), gdpr.Options{Now: clock.Now}, newFake("crm", &log))
	require.NoError(t, err)

	_, err = e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, gdpr.Subject{Identities: []gdpr.Identity{{Kind: "E-Mail", Value: "x"}}}, "web")
	assert.ErrorIs(t, err, gdpr.ErrInvalid, "malformed identities are refused")
	_, err = e.Submit(ctx, "acme", "forget-me-not", gdpr.GDPR, ada, "web")
	assert.ErrorIs(t, err, gdpr.ErrInvalid)

	r, err := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "web")
	require.NoError(t, err)
	assert.Equal(t, gdpr.Received, r.State)
	assert.Equal(t, time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), r.DueAt)
	_, err = e.Process(ctx, "acme", r.ID)
	assert.ErrorIs(t, err, gdpr.ErrWrongStep, "not before the identity is verified")
	_, err = e.Verify(ctx, "globex", r.ID)
	assert.ErrorIs(t, err, gdpr.ErrNotFound, "another tenant's request")

	_, err = e.Extend(ctx, "acme", r.ID, " ")
	assert.ErrorIs(t, err, gdpr.ErrInvalid, "an extension needs its notice")
	r, err = e.Extend(ctx, "acme", r.ID, "We need two more months because of the request's complexity.")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC), r.DueAt, "GDPR allows two further months")
	_, err = e.Extend(ctx, "acme", r.ID, "again")
	assert.ErrorIs(t, err, gdpr.ErrWrongStep, "one extension")

	clock.Advance(time.Hour)
	_, err = e.Verify(ctx, "acme", r.ID)
	require.NoError(t, err)
	r, err = e.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	assert.True(t, r.Steps["crm"].Done)
	assert.Equal(t, t0.Add(time.Hour), r.CompletedAt)

	other, err := e.Submit(ctx, "acme", gdpr.Access, gdpr.CCPA, ada, "email")
	require.NoError(t, err)
	_, err = e.Deny(ctx, "acme", other.ID, "")
	assert.ErrorIs(t, err, gdpr.ErrInvalid)
	other, err = e.Deny(ctx, "acme", other.ID, "identity could not be verified")
	require.NoError(t, err)
	assert.Equal(t, gdpr.Denied, other.State)

	list, err := e.Store().List(ctx, "acme", gdpr.RequestFilter{State: gdpr.Completed})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, r.ID, list[0].ID)
}

// TestErasureFollowsDependencies: "orders" is erased after "users" and
// "payments"; the crypto-like "keys" after everything.
func TestErasureFollowsDependencies(t *testing.T) {
	ctx := context.Background()
	var log []string
	users, payments := newFake("users", &log), newFake("payments", &log)
	orders := newFake("orders", &log, "users", "payments")
	keys := newFake("keys", &log, "orders", "users", "payments")
	for _, s := range []*fakeSource{users, payments, orders, keys} {
		s.records["usr_ada"] = []string{"a", "b"}
	}
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, keys, orders, payments, users)
	require.NoError(t, err)
	r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
	r, err = e.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	pos := func(ev string) int { return slices.Index(log, ev) }
	assert.Less(t, pos("end users"), pos("start orders"))
	assert.Less(t, pos("end payments"), pos("start orders"))
	assert.Less(t, pos("end orders"), pos("start keys"))
	for _, s := range []*fakeSource{users, payments, orders, keys} {
		assert.Equal(t, 1, s.erasures, s.info.Name)
		assert.Equal(t, 2, r.Steps[s.info.Name].Records)
	}
}

// flakyStore fails the n-th Update: a crash right after a step, before
// its checkpoint is stored.
type flakyStore struct {
	gdpr.Store
	updates, failAt atomic.Int64
}

func (f *flakyStore) Update(ctx context.Context, r *gdpr.Request) error {
	if f.updates.Add(1) == f.failAt.Load() {
		return errors.New("power cut")
	}
	return f.Store.Update(ctx, r)
}

// TestKillAtEveryStep injects a failure at each point in turn, a source
// failing or a checkpoint lost, and processes again: every request
// completes, and each source's erasure took effect exactly once (later
// runs found nothing left to erase).
func TestKillAtEveryStep(t *testing.T) {
	ctx := context.Background()
	build := func() (*gdpr.Engine, *flakyStore, []*fakeSource) {
		var log []string
		a, b := newFake("a", &log), newFake("b", &log)
		c := newFake("c", &log, "a", "b")
		d := newFake("d", &log, "c")
		srcs := []*fakeSource{a, b, c, d}
		for _, s := range srcs {
			s.records["usr_ada"] = []string{"x"}
		}
		st := &flakyStore{Store: memstore.New()}
		e, err := gdpr.New(st, gdpr.Options{Parallelism: 2, Logger: slog.New(slog.DiscardHandler)}, a, b, c, d)
		require.NoError(t, err)
		return e, st, srcs
	}
	for step := range 4 {
		t.Run(fmt.Sprint("source fails at step ", step), func(t *testing.T) {
			e, _, srcs := build()
			srcs[step].failNext = true
			r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
			r, err := e.Process(ctx, "acme", r.ID)
			require.Error(t, err)
			assert.Equal(t, gdpr.Failed, r.State)
			assert.Contains(t, r.LastError, "disk on fire")
			r, err = e.Process(ctx, "acme", r.ID)
			require.NoError(t, err, "processing again resumes")
			assert.Equal(t, gdpr.Completed, r.State)
			for _, s := range srcs {
				assert.Equal(t, 1, s.erasures, "%s erased once", s.info.Name)
				assert.Empty(t, s.records, s.info.Name)
			}
		})
	}
	// Updates: 1 create is not an update; verify=1, process start=2, then
	// per source one checkpoint as it starts and one as it ends (3..10),
	// then the final state (11).
	for failAt := 3; failAt <= 11; failAt++ {
		t.Run(fmt.Sprint("update ", failAt, " lost"), func(t *testing.T) {
			e, st, srcs := build()
			r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
			st.failAt.Store(int64(failAt))
			_, err := e.Process(ctx, "acme", r.ID)
			require.Error(t, err)
			r, err = e.Process(ctx, "acme", r.ID)
			require.NoError(t, err)
			assert.Equal(t, gdpr.Completed, r.State)
			for _, s := range srcs {
				assert.Equal(t, 1, s.erasures, "%s's erasure took effect once", s.info.Name)
				assert.Empty(t, s.records)
			}
		})
	}
}

func TestUnknownSubjectCompletesEmpty(t *testing.T) {
	var log []string
	src := newFake("crm", &log)
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, src)
	require.NoError(t, err)
	ghost := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_nobody"}}}
	r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ghost)
	r, err = e.Process(context.Background(), "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	assert.Zero(t, r.Steps["crm"].Records)

	r = gdprtest.SubmitVerified(t, e, gdpr.Access, ghost)
	var buf bytes.Buffer
	require.NoError(t, e.Export(context.Background(), "acme", r.ID, gdpr.JSON, &buf))
	var out struct{ Sources map[string][]any }
	require.NoError(t, json.Unmarshal(buf.Bytes(), &out))
	assert.Equal(t, map[string][]any{"crm": {}}, out.Sources)
}

func TestExportJSONAndZIP(t *testing.T) {
	ctx := context.Background()
	var log []string
	crm, billing := newFake("crm", &log), newFake("billing", &log)
	crm.records["usr_ada"] = []string{"ada@example.com"}
	billing.records["usr_ada"] = []string{"invoice 1", "invoice 2"}
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, crm, billing)
	require.NoError(t, err)
	r := gdprtest.SubmitVerified(t, e, gdpr.Portability, ada)

	var buf bytes.Buffer
	require.NoError(t, e.Export(ctx, "acme", r.ID, gdpr.JSON, &buf))
	var doc struct {
		Request struct{ ID string }
		Sources map[string][]map[string]string
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc), buf.String())
	assert.Equal(t, r.ID, doc.Request.ID)
	assert.Equal(t, []map[string]string{{"value": "invoice 1"}, {"value": "invoice 2"}}, doc.Sources["billing"])

	buf.Reset()
	require.NoError(t, e.Export(ctx, "acme", r.ID, gdpr.ZIP, &buf))
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	files := map[string]string{}
	for _, f := range z.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	assert.JSONEq(t, `[{"value":"ada@example.com"}]`, files["crm.json"])
	var m gdpr.Manifest
	require.NoError(t, json.Unmarshal([]byte(files["manifest.json"]), &m))
	assert.Equal(t, 2, m.Sources["billing"].Records)
	assert.Equal(t, r.ID, m.Request.ID)

	erasure := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
	assert.ErrorIs(t, e.Export(ctx, "acme", erasure.ID, gdpr.JSON, io.Discard), gdpr.ErrWrongStep)
	assert.ErrorIs(t, e.Export(ctx, "acme", r.ID, "xml", io.Discard), gdpr.ErrInvalid)
}

// bigSource emits n records of 1 KiB, generated as they go.
type bigSource struct{ n int }

func (bigSource) Info() gdpr.SourceInfo { return gdpr.SourceInfo{Name: "events"} }
func (b bigSource) Export(_ context.Context, _ string, _ gdpr.Subject, emit func(any) error) error {
	var payload strings.Builder
	for i := range b.n {
		payload.Reset()
		for j := 0; payload.Len() < 1000; j++ { // hex of hashes: compresses only about 2:1
			sum := sha256.Sum256([]byte(fmt.Sprint(i, ".", j)))
			payload.WriteString(hex.EncodeToString(sum[:]))
		}
		if err := emit(map[string]any{"seq": i, "payload": payload.String()}); err != nil {
			return err
		}
	}
	return nil
}
func (bigSource) Erase(context.Context, string, gdpr.Subject) (gdpr.Erased, error) {
	return gdpr.Erased{}, nil
}

// TestExportStreamsWithBoundedMemory exports 100 MiB for one subject as
// a ZIP and samples the heap meanwhile: it stays under 32 MiB.
func TestExportStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("exports 100 MiB")
	}
	records := 100 << 10 // 100 MiB
	if raceEnabled {
		records = 10 << 10 // the detector makes 100 MiB take minutes; 10 MiB still shows streaming
	}
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, bigSource{n: records})
	require.NoError(t, err)
	r := gdprtest.SubmitVerified(t, e, gdpr.Access, ada)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	})
	counter := &countingWriter{}
	require.NoError(t, e.Export(context.Background(), "acme", r.ID, gdpr.ZIP, counter))
	close(stop)
	wg.Wait()
	assert.Greater(t, counter.n, int64(records)*400, "the archive holds the data, compressed")
	assert.Less(t, peak.Load(), uint64(32<<20), "heap peaked at %d MiB", peak.Load()>>20)
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// TestOnChangeHearsEveryChange records the actions an audit trail would.
func TestOnChangeHearsEveryChange(t *testing.T) {
	ctx := context.Background()
	var actions []string
	var log []string
	e, err := gdpr.New(memstore.New(), gdpr.Options{OnChange: func(_ context.Context, r *gdpr.Request, action string) error {
		actions = append(actions, action+":"+string(r.State))
		return nil
	}}, newFake("crm", &log))
	require.NoError(t, err)
	r, err := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "web")
	require.NoError(t, err)
	_, err = e.Extend(ctx, "acme", r.ID, "complex request")
	require.NoError(t, err)
	_, err = e.Verify(ctx, "acme", r.ID)
	require.NoError(t, err)
	_, err = e.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"submitted:received", "extended:received", "verified:verified", "completed:completed"}, actions)
}

// TestAuditRecordsRequests shows Audit writing a request's changes to a
// verifiable trail, naming the subject only by pseudonym.
func TestAuditRecordsRequests(t *testing.T) {
	ctx := context.Background()
	trail, err := audit.New(auditmem.New(), audit.Options{})
	require.NoError(t, err)
	key := []byte("0123456789abcdef0123456789abcdef")
	var log []string
	e, err := gdpr.New(memstore.New(), gdpr.Options{
		OnChange: gdpr.Audit(trail, key, func(r *gdpr.Request) string { return "staff:" + r.Channel }),
	}, newFake("crm", &log))
	require.NoError(t, err)
	r, err := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "")
	require.NoError(t, err)
	_, err = e.Deny(ctx, "acme", r.ID, "identity not verified")
	require.NoError(t, err)

	var got []audit.Record
	for rec, err := range trail.Records(ctx, "acme", 0) {
		require.NoError(t, err)
		got = append(got, rec)
	}
	require.Len(t, got, 2)
	assert.Equal(t, "request submitted", got[0].Action)
	assert.Equal(t, "request denied", got[1].Action)
	assert.Equal(t, "staff:", got[0].Actor)
	assert.Equal(t, "unknown", got[0].Request.Channel, "a request without a channel is recorded as such")
	assert.Equal(t, audit.Pseudonym(key, "acme", ada.Value(gdpr.SubjectKey)), got[0].Subject)
	assert.Equal(t, audit.Denied, got[1].Request.Response)
	assert.Equal(t, "identity not verified", got[1].Request.DenialBasis)
	report, err := trail.Verify(ctx, "acme")
	require.NoError(t, err)
	assert.True(t, report.OK, report.Reason)
}
