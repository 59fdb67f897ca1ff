package audit

import (
	"cmp"
	"slices"
)

// EditMemory lets tests change a MemoryStore's records behind its back,
// as someone with access to its memory could: edit changes the tenant's
// records and returns them, which are then kept in Seq order.
func EditMemory(m *MemoryStore, tenantID string, edit func(chain []Record) []Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	chain := edit(m.chains[tenantID])
	slices.SortStableFunc(chain, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	m.chains[tenantID] = chain
}
