package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr"
)

// SourceOptions configure a Source. The zero value is a sensible default.
type SourceOptions struct {
	// Name is the source's name in gdpr. Default "events-outbox".
	Name string
	// Identity is the kind of the subject's identity that events carry
	// as SubjectKey. Default "user_id".
	Identity string
}

// Source is the gdpr.Source of the events the outbox keeps after
// relaying them: erasure deletes the subject's relayed events. Events
// not yet relayed stay, so that consumers still learn of the change
// (a user.erased event written by the erasure itself, say); erase the
// broker's copies (events/jetstream.Source) after they are relayed.
type Source struct {
	st   *Store
	opts SourceOptions
}

var (
	_ gdpr.Source  = (*Source)(nil)
	_ gdpr.Counter = (*Source)(nil)
)

// NewSource returns the gdpr source of st's outbox.
func NewSource(st *Store, opts SourceOptions) (*Source, error) {
	if opts.Name == "" {
		opts.Name = "events-outbox"
	}
	if err := gdpr.CheckSourceName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Identity == "" {
		opts.Identity = "user_id"
	}
	return &Source{st: st, opts: opts}, nil
}

// Info implements gdpr.Source.
func (s *Source) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: s.opts.Name, Categories: []string{"events"}}
}

// Count implements gdpr.Counter: the subject's relayed events.
func (s *Source) Count(ctx context.Context, tenantID string, subj gdpr.Subject) (int, error) {
	key := subj.Value(s.opts.Identity)
	if key == "" {
		return 0, nil
	}
	var n int
	err := s.st.db.QueryRowContext(ctx, s.st.q(`SELECT COUNT(*) FROM events_outbox o JOIN events_lanes l ON l.lane = o.lane
		WHERE o.tenant_id = ? AND o.subject_key = ? AND `+relayedSQL),
		tenantID, key).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("events sqlstore: gdpr count: %w", err)
	}
	return n, nil
}

// Export implements gdpr.Source: every event of the subject in the
// outbox, relayed or not, oldest first.
func (s *Source) Export(ctx context.Context, tenantID string, subj gdpr.Subject, emit func(record any) error) error {
	key := subj.Value(s.opts.Identity)
	if key == "" {
		return nil
	}
	rows, err := s.st.db.QueryContext(ctx, s.st.q(`SELECT id, event_type, version, occurred_at, payload FROM events_outbox
		WHERE tenant_id = ? AND subject_key = ? ORDER BY seq`), tenantID, key)
	if err != nil {
		return fmt.Errorf("events sqlstore: gdpr export: %w", err)
	}
	defer rows.Close()
	type record struct {
		ID         string    `json:"id"`
		Type       string    `json:"type"`
		Version    int       `json:"version"`
		OccurredAt time.Time `json:"occurred_at"`
		Payload    any       `json:"payload"`
	}
	for rows.Next() {
		var r record
		var payload []byte
		if err := rows.Scan(&r.ID, &r.Type, &r.Version, &r.OccurredAt, &payload); err != nil {
			return fmt.Errorf("events sqlstore: gdpr export: %w", err)
		}
		r.OccurredAt = r.OccurredAt.UTC()
		r.Payload = payload
		if json.Valid(payload) {
			r.Payload = json.RawMessage(payload)
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Erase implements gdpr.Source: it deletes the subject's relayed events
// and says how many not yet relayed it kept.
func (s *Source) Erase(ctx context.Context, tenantID string, subj gdpr.Subject) (gdpr.Erased, error) {
	key := subj.Value(s.opts.Identity)
	if key == "" {
		return gdpr.Erased{Note: "no " + s.opts.Identity + " identity: no events to delete"}, nil
	}
	res, err := s.st.db.ExecContext(ctx, s.st.q(`DELETE FROM events_outbox WHERE seq IN (
		SELECT o.seq FROM events_outbox o JOIN events_lanes l ON l.lane = o.lane
		WHERE o.tenant_id = ? AND o.subject_key = ? AND `+relayedSQL+`)`), tenantID, key)
	if err != nil {
		return gdpr.Erased{}, fmt.Errorf("events sqlstore: gdpr erase: %w", err)
	}
	n, _ := res.RowsAffected()
	var pending int
	if err := s.st.db.QueryRowContext(ctx, s.st.q(`SELECT COUNT(*) FROM events_outbox WHERE tenant_id = ? AND subject_key = ?`), tenantID, key).Scan(&pending); err != nil {
		return gdpr.Erased{}, fmt.Errorf("events sqlstore: gdpr erase: %w", err)
	}
	note := fmt.Sprintf("deleted %d relayed events from the outbox", n)
	if pending > 0 {
		note += fmt.Sprintf("; %d not yet relayed kept for their consumers", pending)
	}
	return gdpr.Erased{Records: int(n), Note: note}, nil
}
