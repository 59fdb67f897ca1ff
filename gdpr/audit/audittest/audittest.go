// Package audittest is the conformance suite of audit.Store:
// gdpr/audit/memstore and gdpr/audit/sqlstore run it, and so can any other
// store. RunStoreTests checks the Store contract, concurrent appenders
// included; RunTamperTests checks that Trail.Verify detects every kind of
// tampering with what the store holds.
package audittest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/audit"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clock returns a clock that starts at t0 and advances a second per
// reading; safe for concurrent use.
func clock() func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

// newTrail returns a Trail over s that reads pageSize records at a time.
func newTrail(t *testing.T, s audit.Store, pageSize int) *audit.Trail {
	t.Helper()
	tr, err := audit.New(s, audit.Options{Now: clock(), PageSize: pageSize})
	require.NoError(t, err)
	return tr
}

// appendN appends n records to the tenant's trail.
func appendN(t *testing.T, tr *audit.Trail, tenantID string, n int) []audit.Record {
	t.Helper()
	out := make([]audit.Record, n)
	for i := range out {
		r, err := tr.Append(context.Background(), tenantID, audit.Record{Actor: "system", Action: fmt.Sprintf("step.%d", i+1)})
		require.NoError(t, err)
		out[i] = r
	}
	return out
}

// next returns a record that follows prev (Seq 0: none) in tenantID's chain.
func next(tenantID string, prev audit.Record) audit.Record {
	r := audit.Record{TenantID: tenantID, Seq: prev.Seq + 1, Time: t0.Add(time.Duration(prev.Seq) * time.Minute),
		Actor: "system", Action: "test", PrevHash: prev.Hash}
	if r.PrevHash == "" {
		r.PrevHash = audit.ZeroHash
	}
	r.Hash = r.ComputeHash()
	return r
}

// verify runs Verify and requires it to return a report.
func verify(t *testing.T, tr *audit.Trail, tenantID string, cps ...audit.Checkpoint) audit.Report {
	t.Helper()
	rep, err := tr.Verify(context.Background(), tenantID, cps...)
	require.NoError(t, err)
	return rep
}

// RunStoreTests runs the suite; newStore returns an empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) audit.Store) {
	ctx := context.Background()
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Last(ctx, "acme")
		assert.ErrorIs(t, err, audit.ErrNotFound)
		got, err := s.List(ctx, "acme", 0, 10)
		require.NoError(t, err)
		assert.Empty(t, got)
		tr := newTrail(t, s, 0)
		cp, err := tr.Checkpoint(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, audit.ZeroHash, cp.Hash)
		assert.Zero(t, cp.Seq)
		rep := verify(t, tr, "acme", cp)
		assert.True(t, rep.OK, rep.Reason)
		assert.Zero(t, rep.Records)
		assert.NoError(t, rep.Err())
	})
	t.Run("AppendFollowsTheEnd", func(t *testing.T) {
		s := newStore(t)
		first := next("acme", audit.Record{})
		require.NoError(t, s.Append(ctx, first))
		assert.ErrorIs(t, s.Append(ctx, first), audit.ErrConflict, "seq 1 again")
		other := next("acme", audit.Record{})
		other.Actor = "someone else"
		other.Hash = other.ComputeHash()
		assert.ErrorIs(t, s.Append(ctx, other), audit.ErrConflict, "a fork at seq 1")

		second := next("acme", first)
		gap := next("acme", second)
		assert.ErrorIs(t, s.Append(ctx, gap), audit.ErrConflict, "seq 3 before seq 2")
		wrongPrev := second
		wrongPrev.PrevHash = other.Hash
		wrongPrev.Hash = wrongPrev.ComputeHash()
		assert.ErrorIs(t, s.Append(ctx, wrongPrev), audit.ErrConflict, "seq 2 linked to a record not in the chain")
		require.NoError(t, s.Append(ctx, second))
		require.NoError(t, s.Append(ctx, gap))

		notFirst := next("globex", audit.Record{})
		notFirst.PrevHash = first.Hash
		assert.ErrorIs(t, s.Append(ctx, notFirst), audit.ErrConflict, "seq 1 must chain from ZeroHash")
		require.NoError(t, s.Append(ctx, next("globex", audit.Record{})), "chains are per tenant")
		zero := next("initech", audit.Record{})
		zero.Seq = 0
		assert.ErrorIs(t, s.Append(ctx, zero), audit.ErrInvalid)

		last, err := s.Last(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, gap, last)
		last, err = s.Last(ctx, "globex")
		require.NoError(t, err)
		assert.EqualValues(t, 1, last.Seq)
	})
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		tr := newTrail(t, s, 0)
		key := []byte("0123456789abcdef0123456789abcdef")
		received := time.Date(2026, 2, 27, 17, 4, 5, 123456789, time.FixedZone("PST", -8*3600))
		full := audit.Record{
			Actor: "staff:42", Action: "dsr.completed", Subject: audit.Pseudonym(key, "acme", "ada@example.com"),
			Request: &audit.Request{ID: "dsr_1", ReceivedAt: received, Kind: "deletion", Channel: "web form",
				RespondedAt: received.Add(72 * time.Hour), Response: audit.PartiallyDenied,
				DenialBasis: "records kept under a legal hold (§ 1798.105(d))"},
			Details: map[string]string{"sources": "crm, billing", "note": "<&> \"quoted\" ünïcode", "empty": ""},
		}
		pending := audit.Record{Actor: "system", Action: "dsr.received",
			Request: &audit.Request{ReceivedAt: received, Kind: "access", Channel: "email"}}
		var want []audit.Record
		for _, r := range []audit.Record{full, pending, {Actor: "system", Action: "retention.swept"}} {
			got, err := tr.Append(ctx, "acme", r)
			require.NoError(t, err)
			want = append(want, got)
		}
		got, err := s.List(ctx, "acme", 0, 10)
		require.NoError(t, err)
		require.Len(t, got, 3)
		for i := range got {
			assert.Equal(t, want[i], got[i], "record %d reads back as appended", i+1)
			assert.Equal(t, got[i].Hash, got[i].ComputeHash(), "record %d", i+1)
		}
		assert.True(t, got[0].Request.ReceivedAt.Equal(received.Truncate(time.Microsecond)))
		last, err := s.Last(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, want[2], last)
		assert.True(t, verify(t, tr, "acme").OK)
	})
	t.Run("ListPages", func(t *testing.T) {
		s := newStore(t)
		tr := newTrail(t, s, 0)
		appendN(t, tr, "acme", 7)
		appendN(t, tr, "globex", 2)
		var seqs [][]uint64
		for _, after := range []uint64{0, 3, 6, 7} {
			page, err := s.List(ctx, "acme", after, 3)
			require.NoError(t, err)
			var ss []uint64
			for _, r := range page {
				assert.Equal(t, "acme", r.TenantID)
				ss = append(ss, r.Seq)
			}
			seqs = append(seqs, ss)
		}
		assert.Equal(t, [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}, nil}, seqs)
		_, err := s.List(ctx, "acme", 0, 0)
		assert.ErrorIs(t, err, audit.ErrInvalid)
		none, err := s.List(ctx, "initech", 0, 10)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
	t.Run("TenantsAreIndependent", func(t *testing.T) {
		s := newStore(t)
		tr := newTrail(t, s, 2)
		for i := range 5 {
			for _, tenant := range []string{"acme", "globex"} {
				r, err := tr.Append(ctx, tenant, audit.Record{Actor: "system", Action: "tick"})
				require.NoError(t, err)
				assert.EqualValues(t, i+1, r.Seq, "tenant %s", tenant)
			}
		}
		a, b := verify(t, tr, "acme"), verify(t, tr, "globex")
		assert.True(t, a.OK, a.Reason)
		assert.True(t, b.OK, b.Reason)
		assert.EqualValues(t, 5, a.Records)
		assert.EqualValues(t, 5, b.Records)
		assert.NotEqual(t, a.LastHash, b.LastHash)
	})
	t.Run("Checkpoints", func(t *testing.T) {
		s := newStore(t)
		tr := newTrail(t, s, 2)
		appendN(t, tr, "acme", 3)
		early, err := tr.Checkpoint(ctx, "acme")
		require.NoError(t, err)
		assert.EqualValues(t, 3, early.Seq)
		appendN(t, tr, "acme", 4)
		late, err := tr.Checkpoint(ctx, "acme")
		require.NoError(t, err)
		rep := verify(t, tr, "acme", late, early)
		assert.True(t, rep.OK, rep.Reason)
		assert.EqualValues(t, 7, rep.LastSeq)
		assert.Equal(t, late.Hash, rep.LastHash)
	})
	t.Run("ConcurrentAppenders", func(t *testing.T) {
		s := &counting{Store: newStore(t)}
		const workers, each = 8, 50
		seen := make(chan uint64, workers*each)
		var wg sync.WaitGroup
		for w := range workers {
			tr := newTrail(t, s, 0) // one Trail per worker, as in separate processes
			wg.Go(func() {
				for i := range each {
					r, err := tr.Append(ctx, "acme", audit.Record{Actor: fmt.Sprintf("worker.%d", w), Action: fmt.Sprintf("op.%d", i)})
					if !assert.NoError(t, err) {
						return
					}
					seen <- r.Seq
				}
			})
		}
		wg.Wait()
		close(seen)
		unique := map[uint64]bool{}
		for seq := range seen {
			assert.False(t, unique[seq], "seq %d returned twice", seq)
			unique[seq] = true
		}
		assert.Len(t, unique, workers*each)
		t.Logf("%d appends lost a race and were retried", s.conflicts.Load())
		last, err := s.Last(ctx, "acme")
		require.NoError(t, err)
		assert.EqualValues(t, workers*each, last.Seq)
		rep := verify(t, newTrail(t, s, 64), "acme")
		assert.True(t, rep.OK, rep.Reason)
		assert.EqualValues(t, workers*each, rep.Records)
	})
}

// counting counts the appends a Store refuses with ErrConflict.
type counting struct {
	audit.Store
	conflicts atomic.Int64
}

func (c *counting) Append(ctx context.Context, r audit.Record) error {
	err := c.Store.Append(ctx, r)
	if errors.Is(err, audit.ErrConflict) {
		c.conflicts.Add(1)
	}
	return err
}

// Tamperer changes a store's records behind its back, as someone with
// direct access to its storage could (an UPDATE or DELETE statement).
type Tamperer interface {
	// SetAction overwrites the action of the tenant's record seq,
	// leaving everything else (its hash too) as it is.
	SetAction(t testing.TB, tenantID string, seq uint64, action string)
	// SetHash overwrites the stored hash of the tenant's record seq.
	SetHash(t testing.TB, tenantID string, seq uint64, hash string)
	// Delete removes the tenant's record seq.
	Delete(t testing.TB, tenantID string, seq uint64)
	// Renumber changes the sequence number of the tenant's record from
	// to to, a number no record has, moving it in the chain.
	Renumber(t testing.TB, tenantID string, from, to uint64)
}

// swap exchanges the places of the tenant's records a and b.
func swap(t testing.TB, tm Tamperer, tenantID string, a, b uint64) {
	const aside = 1 << 40
	tm.Renumber(t, tenantID, a, aside)
	tm.Renumber(t, tenantID, b, a)
	tm.Renumber(t, tenantID, aside, b)
}

// RunTamperTests runs the tampering suite; newStore returns an empty
// store and a Tamperer for it. Each test appends five records for
// tenant "acme" and three for "globex", tampers with acme's, and checks
// what Verify reports, reading two records per page so that breaks fall
// on and across page boundaries; globex's trail must stay intact.
func RunTamperTests(t *testing.T, newStore func(t *testing.T) (audit.Store, Tamperer)) {
	ctx := context.Background()
	// seed returns a trail over a fresh store holding the records, the
	// tamperer and a checkpoint of acme's trail.
	seed := func(t *testing.T) (*audit.Trail, Tamperer, audit.Checkpoint) {
		s, tamper := newStore(t)
		tr := newTrail(t, s, 2)
		appendN(t, tr, "acme", 5)
		appendN(t, tr, "globex", 3)
		cp, err := tr.Checkpoint(ctx, "acme")
		require.NoError(t, err)
		require.EqualValues(t, 5, cp.Seq)
		rep := verify(t, tr, "acme", cp)
		require.True(t, rep.OK, rep.Reason)
		return tr, tamper, cp
	}
	// broken checks that rep reports problem p at seq, and that the other
	// tenant is unaffected.
	broken := func(t *testing.T, tr *audit.Trail, rep audit.Report, p audit.Problem, seq uint64) {
		t.Helper()
		t.Logf("%s at seq %d: %s", rep.Problem, rep.BrokenAt, rep.Reason)
		assert.False(t, rep.OK)
		assert.Equal(t, p, rep.Problem, rep.Reason)
		assert.Equal(t, seq, rep.BrokenAt, rep.Reason)
		assert.Equal(t, seq-1, rep.LastSeq, "the intact prefix")
		assert.NotEmpty(t, rep.Reason)
		assert.ErrorIs(t, rep.Err(), audit.ErrTampered)
		other := verify(t, tr, "globex")
		assert.True(t, other.OK, "another tenant's trail: %s", other.Reason)
	}
	tests := []struct {
		name    string
		tamper  func(t *testing.T, tr *audit.Trail, tamper Tamperer)
		problem audit.Problem
		at      uint64
		needsCP bool // only a checkpoint shows it
	}{
		{name: "EditMiddle", problem: audit.Modified, at: 3, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.SetAction(t, "acme", 3, "nothing.happened")
		}},
		{name: "EditFirst", problem: audit.Modified, at: 1, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.SetAction(t, "acme", 1, "nothing.happened")
		}},
		{name: "EditLast", problem: audit.Modified, at: 5, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.SetAction(t, "acme", 5, "nothing.happened")
		}},
		{name: "DeleteMiddle", problem: audit.Deleted, at: 3, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.Delete(t, "acme", 3)
		}},
		{name: "DeleteFirst", problem: audit.Deleted, at: 1, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.Delete(t, "acme", 1)
		}},
		{name: "Swap", problem: audit.Reordered, at: 2, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			swap(t, tm, "acme", 2, 4)
		}},
		{name: "SwapNeighbours", problem: audit.Reordered, at: 4, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			swap(t, tm, "acme", 4, 5)
		}},
		{name: "DeleteAndRenumber", problem: audit.Reordered, at: 3, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			// Close the gap a deletion leaves: record 4 then links to the
			// deleted record 3, not to record 2.
			tm.Delete(t, "acme", 3)
			tm.Renumber(t, "acme", 4, 3)
			tm.Renumber(t, "acme", 5, 4)
		}},
		{name: "TruncateTail", problem: audit.Truncated, at: 4, needsCP: true, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			tm.Delete(t, "acme", 5)
			tm.Delete(t, "acme", 4)
		}},
		{name: "TruncateAll", problem: audit.Truncated, at: 1, needsCP: true, tamper: func(t *testing.T, _ *audit.Trail, tm Tamperer) {
			for seq := uint64(5); seq >= 1; seq-- {
				tm.Delete(t, "acme", seq)
			}
		}},
		{name: "RewriteLast", problem: audit.Truncated, at: 5, needsCP: true, tamper: func(t *testing.T, tr *audit.Trail, tm Tamperer) {
			last := all(t, tr, "acme")[4]
			last.Action = "nothing.happened"
			tm.SetAction(t, "acme", 5, last.Action)
			tm.SetHash(t, "acme", 5, last.ComputeHash())
		}},
		{name: "TruncateAndRegrow", problem: audit.Truncated, at: 5, needsCP: true, tamper: func(t *testing.T, tr *audit.Trail, tm Tamperer) {
			tm.Delete(t, "acme", 5)
			tm.Delete(t, "acme", 4)
			appendN(t, tr, "acme", 3)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, tamper, cp := seed(t)
			tc.tamper(t, tr, tamper)
			if tc.needsCP {
				rep := verify(t, tr, "acme")
				assert.True(t, rep.OK, "without a checkpoint the chain looks intact: %s", rep.Reason)
				rep = verify(t, tr, "acme", cp)
				broken(t, tr, rep, tc.problem, tc.at)
				return
			}
			broken(t, tr, verify(t, tr, "acme"), tc.problem, tc.at)
			broken(t, tr, verify(t, tr, "acme", cp), tc.problem, tc.at)
		})
	}
}

// all returns the tenant's records.
func all(t *testing.T, tr *audit.Trail, tenantID string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for r, err := range tr.Records(context.Background(), tenantID, 0) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}
