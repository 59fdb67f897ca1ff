// Package memstore keeps versioning's state in memory, for tests and
// single-process services: Pins is a versioning.PinStore.
// versioning/sqlstore keeps the same state in SQLite or PostgreSQL,
// shared by replicas and kept across restarts.
package memstore

import (
	"context"
	"sync"

	"github.com/saaskit/saaskit/versioning"
)

// Pins is an in-memory versioning.PinStore.
type Pins struct {
	mu   sync.RWMutex
	pins map[string]string
}

var _ versioning.PinStore = (*Pins)(nil)

// NewPins returns an empty Pins.
func NewPins() *Pins { return &Pins{pins: map[string]string{}} }

// Pin implements versioning.PinStore.
func (m *Pins) Pin(_ context.Context, tenantID string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.pins[tenantID]
	if !ok {
		return "", versioning.ErrNoPin
	}
	return v, nil
}

// SetPin implements versioning.PinStore.
func (m *Pins) SetPin(_ context.Context, tenantID, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pins[tenantID] = version
	return nil
}
