package versioning

import (
	"context"
	"sync"
)

// MemoryPins is an in-memory PinStore, for tests and single-process
// services; versioning/sqlstore keeps pins in a database.
type MemoryPins struct {
	mu   sync.RWMutex
	pins map[string]string
}

// NewMemoryPins returns an empty MemoryPins.
func NewMemoryPins() *MemoryPins { return &MemoryPins{pins: map[string]string{}} }

// Pin implements PinStore.
func (m *MemoryPins) Pin(_ context.Context, tenantID string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.pins[tenantID]
	if !ok {
		return "", ErrNoPin
	}
	return v, nil
}

// SetPin implements PinStore.
func (m *MemoryPins) SetPin(_ context.Context, tenantID, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pins[tenantID] = version
	return nil
}
