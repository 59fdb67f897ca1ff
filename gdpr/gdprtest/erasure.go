package gdprtest

import (
	"context"
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
