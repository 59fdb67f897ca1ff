package gdpr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// NotificationWindow is the time GDPR Art. 33 gives a controller to
// notify the supervisory authority of a personal data breach, from
// becoming aware of it.
const NotificationWindow = 72 * time.Hour

// IncidentStatus is where a breach incident stands.
type IncidentStatus string

// Incident statuses.
const (
	IncidentOpen     IncidentStatus = "open"     // detected, authority not yet notified
	IncidentNotified IncidentStatus = "notified" // the authority was notified
	IncidentClosed   IncidentStatus = "closed"
)

// Incident is a personal data breach and its timeline: when the
// controller became aware of it, when the supervisory authority was
// notified (Art. 33), when the data subjects were (Art. 34), and when
// it was closed.
type Incident struct {
	ID          string         `json:"id"`
	TenantIDs   []string       `json:"tenant_ids,omitempty"` // affected tenants; empty: the platform
	Description string         `json:"description"`
	Categories  []string       `json:"categories,omitempty"` // of data affected
	Subjects    int            `json:"subjects"`             // approximate number affected
	DetectedAt  time.Time      `json:"detected_at"`
	NotifyBy    time.Time      `json:"notify_by"`
	Status      IncidentStatus `json:"status"`
	NotifiedAt  time.Time      `json:"notified_at,omitzero"`
	LateReason  string         `json:"late_reason,omitempty"` // Art. 33(1): reasons for a delay
	// SubjectsNotifiedAt is when the data subjects were told (Art. 34),
	// which a high risk to them requires; zero if they were not.
	SubjectsNotifiedAt time.Time `json:"subjects_notified_at,omitzero"`
	ClosedAt           time.Time `json:"closed_at,omitzero"`
	// Version counts stored changes; IncidentStore.UpdateIncident
	// refuses a stale one.
	Version int64 `json:"version"`
}

func (inc *Incident) clone() *Incident {
	c := *inc
	c.TenantIDs, c.Categories = slices.Clone(inc.TenantIDs), slices.Clone(inc.Categories)
	return &c
}

// CheckStorable is the check every IncidentStore makes before it keeps
// an incident: text that is not valid UTF-8 or that holds NUL bytes is
// ErrInvalid, never silently replaced.
func (inc *Incident) CheckStorable() error {
	if !textfield.StorableValue(inc) {
		return fmt.Errorf("%w: incident %q holds text that is not valid UTF-8 or holds NUL bytes", ErrInvalid, inc.ID)
	}
	return nil
}

// IncidentFilter selects incidents; zero fields match all.
type IncidentFilter struct {
	Status         IncidentStatus
	NotifyByBefore time.Time // only incidents due before this
}

func (f IncidentFilter) match(inc *Incident) bool {
	return (f.Status == "" || inc.Status == f.Status) && (f.NotifyByBefore.IsZero() || inc.NotifyBy.Before(f.NotifyByBefore))
}

// IncidentStore keeps the breach register where it survives restarts
// and every replica reads it. MemoryIncidents keeps it in one process,
// for tests; gdpr/sqlstore in SQLite or PostgreSQL.
// gdprtest.RunIncidentStoreTests is the conformance suite.
type IncidentStore interface {
	// CreateIncident stores a new incident and sets its Version to 1;
	// ErrConflict if its ID is taken.
	CreateIncident(ctx context.Context, inc *Incident) error
	// GetIncident returns an incident; ErrNotFound if there is none.
	GetIncident(ctx context.Context, id string) (*Incident, error)
	// UpdateIncident replaces the incident if inc.Version is current,
	// then increments inc.Version; ErrConflict when stale.
	UpdateIncident(ctx context.Context, inc *Incident) error
	// ListIncidents returns the incidents matching f by NotifyBy, then ID.
	ListIncidents(ctx context.Context, f IncidentFilter) ([]*Incident, error)
}

// MemoryIncidents is an IncidentStore in one process, for tests and
// examples: its register is lost with the process.
type MemoryIncidents struct {
	mu    sync.Mutex
	items map[string]*Incident
}

var _ IncidentStore = (*MemoryIncidents)(nil)

// NewMemoryIncidents returns an empty MemoryIncidents.
func NewMemoryIncidents() *MemoryIncidents { return &MemoryIncidents{items: map[string]*Incident{}} }

// CreateIncident implements IncidentStore.
func (m *MemoryIncidents) CreateIncident(_ context.Context, inc *Incident) error {
	if err := inc.CheckStorable(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[inc.ID]; ok {
		return fmt.Errorf("incident %s: %w", inc.ID, ErrConflict)
	}
	inc.Version = 1
	m.items[inc.ID] = inc.clone()
	return nil
}

// GetIncident implements IncidentStore.
func (m *MemoryIncidents) GetIncident(_ context.Context, id string) (*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inc, ok := m.items[id]
	if !ok {
		return nil, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return inc.clone(), nil
}

// UpdateIncident implements IncidentStore.
func (m *MemoryIncidents) UpdateIncident(_ context.Context, inc *Incident) error {
	if err := inc.CheckStorable(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.items[inc.ID]
	switch {
	case !ok:
		return fmt.Errorf("incident %s: %w", inc.ID, ErrNotFound)
	case cur.Version != inc.Version:
		return fmt.Errorf("incident %s: %w", inc.ID, ErrConflict)
	}
	inc.Version++
	m.items[inc.ID] = inc.clone()
	return nil
}

// ListIncidents implements IncidentStore.
func (m *MemoryIncidents) ListIncidents(_ context.Context, f IncidentFilter) ([]*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Incident
	for _, inc := range m.items {
		if f.match(inc) {
			out = append(out, inc.clone())
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int { return cmp.Or(a.NotifyBy.Compare(b.NotifyBy), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// Incidents is the breach register: it records incidents in an
// IncidentStore and tracks their 72-hour deadlines.
type Incidents struct {
	store IncidentStore
	now   func() time.Time
}

// NewIncidents returns a register over store (default: a new
// MemoryIncidents, lost with the process); now defaults to time.Now.
func NewIncidents(store IncidentStore, now func() time.Time) *Incidents {
	if store == nil {
		store = NewMemoryIncidents()
	}
	if now == nil {
		now = time.Now
	}
	return &Incidents{store: store, now: now}
}

// Open records a breach detected at detectedAt (when the controller
// became aware of it), due for notification 72 hours later.
func (in *Incidents) Open(ctx context.Context, description string, detectedAt time.Time, subjects int, categories []string, tenantIDs ...string) (*Incident, error) {
	if strings.TrimSpace(description) == "" || detectedAt.IsZero() || subjects < 0 {
		return nil, fmt.Errorf("%w: an incident needs a description, a detection time and a number of subjects", ErrInvalid)
	}
	inc := &Incident{ID: "inc_" + newRequestID()[4:], Description: description, DetectedAt: detectedAt.UTC(),
		NotifyBy: detectedAt.UTC().Add(NotificationWindow), Status: IncidentOpen, Subjects: subjects,
		Categories: slices.Clone(categories), TenantIDs: slices.Clone(tenantIDs)}
	if err := in.store.CreateIncident(ctx, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

// Get returns an incident.
func (in *Incidents) Get(ctx context.Context, id string) (*Incident, error) {
	return in.store.GetIncident(ctx, id)
}

// List returns the incidents matching f, by deadline.
func (in *Incidents) List(ctx context.Context, f IncidentFilter) ([]*Incident, error) {
	return in.store.ListIncidents(ctx, f)
}

// Notified records the authority's notification; after the deadline it
// needs the reasons for the delay.
func (in *Incidents) Notified(ctx context.Context, id, lateReason string) (*Incident, error) {
	return in.update(ctx, id, func(inc *Incident, now time.Time) error {
		if inc.Status != IncidentOpen {
			return fmt.Errorf("%w: incident %s is %s", ErrWrongStep, id, inc.Status)
		}
		if now.After(inc.NotifyBy) && strings.TrimSpace(lateReason) == "" {
			return fmt.Errorf("%w: notified after the 72-hour deadline: the reasons for the delay are required", ErrInvalid)
		}
		inc.Status, inc.NotifiedAt, inc.LateReason = IncidentNotified, now, lateReason
		return nil
	})
}

// SubjectsNotified records that the affected data subjects were told of
// the breach (Art. 34), once, before the incident is closed.
func (in *Incidents) SubjectsNotified(ctx context.Context, id string) (*Incident, error) {
	return in.update(ctx, id, func(inc *Incident, now time.Time) error {
		if inc.Status == IncidentClosed || !inc.SubjectsNotifiedAt.IsZero() {
			return fmt.Errorf("%w: incident %s is %s, subjects notified at %v", ErrWrongStep, id, inc.Status, inc.SubjectsNotifiedAt)
		}
		inc.SubjectsNotifiedAt = now
		return nil
	})
}

// Close closes a notified incident.
func (in *Incidents) Close(ctx context.Context, id string) (*Incident, error) {
	return in.update(ctx, id, func(inc *Incident, now time.Time) error {
		if inc.Status != IncidentNotified {
			return fmt.Errorf("%w: incident %s is %s", ErrWrongStep, id, inc.Status)
		}
		inc.Status, inc.ClosedAt = IncidentClosed, now
		return nil
	})
}

// update applies change to the stored incident, reading it again and
// retrying when another process changed it in between.
func (in *Incidents) update(ctx context.Context, id string, change func(*Incident, time.Time) error) (*Incident, error) {
	for {
		inc, err := in.store.GetIncident(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(inc, in.now().UTC()); err != nil {
			return nil, err
		}
		err = in.store.UpdateIncident(ctx, inc)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return inc, nil
	}
}

// Overdue returns the open incidents past their notification deadline,
// oldest first: what an alert should page on.
func (in *Incidents) Overdue(ctx context.Context) ([]*Incident, error) {
	return in.store.ListIncidents(ctx, IncidentFilter{Status: IncidentOpen, NotifyByBefore: in.now()})
}
