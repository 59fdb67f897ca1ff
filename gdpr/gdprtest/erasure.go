package gdprtest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
)

// source is a gdpr.Source that holds records per subject key in memory
// and counts the erasures that took effect; during, when set, runs
// inside each erasure, before it takes effect.
type source struct {
	name, after string
	during      func()
	mu          sync.Mutex
	records     map[string]int // subject key -> records
	erased      int            // erasures that erased something
}

func newSource(name, after string, records map[string]int) *source {
	return &source{name: name, after: after, records: records}
}

func (s *source) Info() gdpr.SourceInfo {
	info := gdpr.SourceInfo{Name: s.name, Categories: []string{"contact"}}
	if s.after != "" {
		info.After = []string{s.after}
	}
	return info
}

func (s *source) Export(context.Context, string, gdpr.Subject, func(any) error) error { return nil }

func (s *source) Erase(_ context.Context, _ string, subj gdpr.Subject) (gdpr.Erased, error) {
	if s.during != nil {
		s.during()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := subj.Value(gdpr.SubjectKey)
	n := s.records[key]
	if n > 0 {
		s.erased++
	}
	delete(s.records, key)
	return gdpr.Erased{Records: n}, nil
}

// Count implements gdpr.Counter.
func (s *source) Count(_ context.Context, _ string, subj gdpr.Subject) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[subj.Value(gdpr.SubjectKey)], nil
}

// uncounted is a source that is not a gdpr.Counter.
type uncounted struct{ s *source }

func (u uncounted) Info() gdpr.SourceInfo { return u.s.Info() }
func (u uncounted) Export(ctx context.Context, tenantID string, subj gdpr.Subject, emit func(any) error) error {
	return u.s.Export(ctx, tenantID, subj, emit)
}
func (u uncounted) Erase(ctx context.Context, tenantID string, subj gdpr.Subject) (gdpr.Erased, error) {
	return u.s.Erase(ctx, tenantID, subj)
}

func (s *source) erasures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.erased
}

// processVerified submits and verifies an erasure of the subject with
// that subject key, and processes it.
func processVerified(t *testing.T, e *gdpr.Engine, subjectKey string) (*gdpr.Request, error) {
	t.Helper()
	ctx := context.Background()
	subject := gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: subjectKey}}}
	r, err := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, subject, "web")
	require.NoError(t, err)
	_, err = e.Verify(ctx, "acme", r.ID)
	require.NoError(t, err)
	return e.Process(ctx, "acme", r.ID)
}

// testHoldStopsErasure: a legal hold placed while an erasure runs stops
// the steps not yet started, and the request, stored as failed, says
// why; so does one refused as processing starts. Once the hold is
// lifted, processing again finishes the erasure without redoing the
// finished steps.
func testHoldStopsErasure(t *testing.T, store gdpr.Store, holds gdpr.HoldStore) {
	ctx := context.Background()
	first := newSource("first", "", map[string]int{"usr_ada": 2, "usr_bob": 1})
	second := newSource("second", "first", map[string]int{"usr_ada": 3, "usr_bob": 1})
	e, err := gdpr.New(store, gdpr.Options{Holds: holds}, first, second)
	require.NoError(t, err)
	first.during = func() { // the hold arrives while the first step runs
		_, err := e.PlaceHold(ctx, "acme", "usr_ada", "litigation 2026-17")
		assert.NoError(t, err)
	}

	r, err := processVerified(t, e, "usr_ada")
	require.ErrorIs(t, err, gdpr.ErrHeld)
	first.during = nil
	assert.Equal(t, 1, first.erasures(), "the step that had started finished")
	assert.Zero(t, second.erasures(), "the step that had not started did not start")
	stored, err := store.Get(ctx, "acme", r.ID)
	require.NoError(t, err)
	for _, got := range []*gdpr.Request{r, stored} {
		assert.Equal(t, gdpr.Failed, got.State)
		assert.Contains(t, got.LastError, "litigation 2026-17", "the request says which hold stopped it")
		assert.True(t, got.Steps["first"].Done)
		assert.False(t, got.Steps["second"].Done)
	}

	// Refused as processing starts: recorded too, nothing erased.
	bob, err := processVerified(t, e, "usr_bob")
	require.NoError(t, err, "ada's hold does not cover bob")
	require.NoError(t, holds.PutHold(ctx, gdpr.Hold{TenantID: "acme", SubjectKey: "usr_carol", Reason: "regulator inquiry"}))
	carol, err := processVerified(t, e, "usr_carol")
	require.ErrorIs(t, err, gdpr.ErrHeld)
	stored, err = store.Get(ctx, "acme", carol.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Failed, stored.State)
	assert.Contains(t, stored.LastError, "regulator inquiry")
	assert.Equal(t, gdpr.Completed, bob.State)

	require.NoError(t, e.ReleaseHold(ctx, "acme", "usr_ada"))
	r, err = e.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	assert.Empty(t, r.LastError)
	assert.Equal(t, 2, first.erasures(), "ada's and bob's: ada's first step was not run again")
	assert.Equal(t, 2, second.erasures())
	assert.Equal(t, 2, r.Steps["first"].Records)
	assert.Equal(t, 3, r.Steps["second"].Records)
}

// crashingStore stands for a process that dies: once crashed, none of
// its updates reach the store.
type crashingStore struct {
	gdpr.Store
	mu      sync.Mutex
	crashed bool
}

func (c *crashingStore) crash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashed = true
}

func (c *crashingStore) Update(ctx context.Context, r *gdpr.Request) error {
	c.mu.Lock()
	crashed := c.crashed
	c.mu.Unlock()
	if crashed {
		return errors.New("the process died")
	}
	return c.Store.Update(ctx, r)
}

// testResumeKeepsCounts: the process dies after two sources erased the
// subject's records but before their checkpoints were stored; another
// process resumes the request from what the store kept. The steps run
// again, find nothing left, and still report the records the first run
// erased (the counted source), or say that they could not (the other).
func testResumeKeepsCounts(t *testing.T, store gdpr.Store) {
	ctx := context.Background()
	counted := newSource("counted", "", map[string]int{"usr_ada": 2})
	plain := newSource("plain", "", map[string]int{"usr_ada": 3})
	last := newSource("last", "counted", map[string]int{"usr_ada": 4})
	dying := &crashingStore{Store: store}
	var erasing sync.WaitGroup // both first steps are under way before the crash
	erasing.Add(2)
	for _, s := range []*source{counted, plain} {
		s.during = func() {
			erasing.Done()
			erasing.Wait()
			dying.crash()
		}
	}
	e, err := gdpr.New(dying, gdpr.Options{Parallelism: 2}, counted, uncounted{plain}, last)
	require.NoError(t, err)
	r, err := processVerified(t, e, "usr_ada")
	require.Error(t, err)
	assert.Equal(t, 1, counted.erasures())
	assert.Equal(t, 1, plain.erasures())
	assert.Zero(t, last.erasures())

	counted.during, plain.during = nil, nil
	restarted, err := gdpr.New(store, gdpr.Options{}, counted, uncounted{plain}, last)
	require.NoError(t, err)
	kept, err := store.Get(ctx, "acme", r.ID)
	require.NoError(t, err)
	require.False(t, kept.Steps["counted"].Done, "the checkpoint was lost")
	r, err = restarted.Process(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	assert.Equal(t, 2, r.Steps["counted"].Records, "the first run's count, not the second's zero")
	assert.Equal(t, 4, r.Steps["last"].Records)
	assert.Zero(t, r.Steps["plain"].Records, "an uncounted source's second run erased nothing...")
	assert.Contains(t, r.Steps["plain"].Note, "not counted", "...and its step says its count misses the first run's")
	assert.Empty(t, r.Steps["counted"].Note)
	stored, err := store.Get(ctx, "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, r.Steps, stored.Steps, "as stored")
}
