package gdpr

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
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

// Incident is a personal data breach.
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
	ClosedAt    time.Time      `json:"closed_at,omitzero"`
}

// Incidents records breach incidents in memory and tracks their 72-hour
// deadlines.
type Incidents struct {
	now   func() time.Time
	mu    sync.Mutex
	items map[string]*Incident
}

// NewIncidents returns an empty register; now defaults to time.Now.
func NewIncidents(now func() time.Time) *Incidents {
	if now == nil {
		now = time.Now
	}
	return &Incidents{now: now, items: map[string]*Incident{}}
}

// Open records a breach detected at detectedAt (when the controller
// became aware of it), due for notification 72 hours later.
func (in *Incidents) Open(_ context.Context, description string, detectedAt time.Time, subjects int, categories []string, tenantIDs ...string) (*Incident, error) {
	if strings.TrimSpace(description) == "" || detectedAt.IsZero() || subjects < 0 {
		return nil, fmt.Errorf("%w: an incident needs a description, a detection time and a number of subjects", ErrInvalid)
	}
	inc := &Incident{ID: "inc_" + newRequestID()[4:], Description: description, DetectedAt: detectedAt.UTC(),
		NotifyBy: detectedAt.UTC().Add(NotificationWindow), Status: IncidentOpen, Subjects: subjects,
		Categories: slices.Clone(categories), TenantIDs: slices.Clone(tenantIDs)}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.items[inc.ID] = inc
	c := *inc
	return &c, nil
}

// Notified records the authority's notification; after the deadline it
// needs the reasons for the delay.
func (in *Incidents) Notified(_ context.Context, id, lateReason string) (*Incident, error) {
	return in.update(id, IncidentOpen, func(inc *Incident, now time.Time) error {
		if now.After(inc.NotifyBy) && strings.TrimSpace(lateReason) == "" {
			return fmt.Errorf("%w: notified after the 72-hour deadline: the reasons for the delay are required", ErrInvalid)
		}
		inc.Status, inc.NotifiedAt, inc.LateReason = IncidentNotified, now, lateReason
		return nil
	})
}

// Close closes a notified incident.
func (in *Incidents) Close(_ context.Context, id string) (*Incident, error) {
	return in.update(id, IncidentNotified, func(inc *Incident, now time.Time) error {
		inc.Status, inc.ClosedAt = IncidentClosed, now
		return nil
	})
}

func (in *Incidents) update(id string, from IncidentStatus, change func(*Incident, time.Time) error) (*Incident, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	inc, ok := in.items[id]
	if !ok {
		return nil, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	if inc.Status != from {
		return nil, fmt.Errorf("%w: incident %s is %s", ErrWrongStep, id, inc.Status)
	}
	next := *inc
	if err := change(&next, in.now().UTC()); err != nil {
		return nil, err
	}
	*inc = next
	return &next, nil
}

// Overdue returns the open incidents past their notification deadline,
// oldest first: what an alert should page on.
func (in *Incidents) Overdue(context.Context) []*Incident {
	now := in.now()
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []*Incident
	for _, inc := range in.items {
		if inc.Status == IncidentOpen && now.After(inc.NotifyBy) {
			c := *inc
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int { return cmp.Compare(a.NotifyBy.UnixNano(), b.NotifyBy.UnixNano()) })
	return out
}
