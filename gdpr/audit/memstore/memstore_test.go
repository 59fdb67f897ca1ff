package memstore

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/audittest"
)

func TestStoreConformance(t *testing.T) {
	audittest.RunStoreTests(t, func(*testing.T) audit.Store { return New() })
}

func TestStoreTampering(t *testing.T) {
	audittest.RunTamperTests(t, func(*testing.T) (audit.Store, audittest.Tamperer) {
		m := New()
		return m, memoryTamperer{m}
	})
}

// memoryTamperer edits a Store's records behind its back, as someone
// with access to its memory could.
type memoryTamperer struct{ m *Store }

func (mt memoryTamperer) edit(t testing.TB, tenantID string, seq uint64, fn func(r *audit.Record)) {
	t.Helper()
	found := false
	mt.editChain(tenantID, func(chain []audit.Record) []audit.Record {
		for i := range chain {
			if chain[i].Seq == seq {
				fn(&chain[i])
				found = true
			}
		}
		return chain
	})
	require.True(t, found, "no record %d", seq)
}

func (mt memoryTamperer) SetAction(t testing.TB, tenantID string, seq uint64, action string) {
	mt.edit(t, tenantID, seq, func(r *audit.Record) { r.Action = action })
}

func (mt memoryTamperer) SetHash(t testing.TB, tenantID string, seq uint64, hash string) {
	mt.edit(t, tenantID, seq, func(r *audit.Record) { r.Hash = hash })
}

func (mt memoryTamperer) Renumber(t testing.TB, tenantID string, from, to uint64) {
	mt.edit(t, tenantID, from, func(r *audit.Record) { r.Seq = to })
}

func (mt memoryTamperer) Delete(t testing.TB, tenantID string, seq uint64) {
	mt.edit(t, tenantID, seq, func(*audit.Record) {})
	mt.editChain(tenantID, func(chain []audit.Record) []audit.Record {
		var kept []audit.Record
		for _, r := range chain {
			if r.Seq != seq {
				kept = append(kept, r)
			}
		}
		return kept
	})
}

// edit changes the tenant's records, which are then kept in Seq order.
func (mt memoryTamperer) editChain(tenantID string, edit func(chain []audit.Record) []audit.Record) {
	mt.m.mu.Lock()
	defer mt.m.mu.Unlock()
	chain := edit(mt.m.chains[tenantID])
	slices.SortStableFunc(chain, func(a, b audit.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	mt.m.chains[tenantID] = chain
}
