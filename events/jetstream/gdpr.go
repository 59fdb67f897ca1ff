package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/gdpr"
)

// SourceOptions configure a Source. The zero value is a sensible default.
type SourceOptions struct {
	// Name is the source's name in gdpr. Default "events-<stream>", in
	// lowercase.
	Name string
	// Prefix is the subjects' first token. Default "events".
	Prefix string
	// Identity is the kind of the subject's identity that events carry
	// as SubjectKey. Default "user_id".
	Identity string
}

// Source is the gdpr.Source of a stream's retained events: erasure
// purges, by subject, every message whose subject carries the data
// subject's token, in the stream and its dead letters. Nothing is
// crypto-shredded: the messages are gone from the stream.
//
// A purged event is gone for consumers that had not had it yet too. An
// Inbox runs an aggregate's events in order, so an event written after
// the erasure in the same aggregate waits for the purged ones before
// it, until the Consumer sees that every message before it is answered
// (about a second): it then records the gap, logs a warning and
// handles the event. Its handler must therefore be right without the
// purged events.
type Source struct {
	js     jetstream.JetStream
	stream string
	opts   SourceOptions
}

var (
	_ gdpr.Source  = (*Source)(nil)
	_ gdpr.Counter = (*Source)(nil)
)

// NewSource returns the gdpr source of stream.
func NewSource(js jetstream.JetStream, stream string, opts SourceOptions) (*Source, error) {
	if opts.Name == "" {
		opts.Name = "events-" + lower(stream)
	}
	if err := gdpr.CheckSourceName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = "events"
	}
	if opts.Identity == "" {
		opts.Identity = "user_id"
	}
	return &Source{js: js, stream: stream, opts: opts}, nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Info implements gdpr.Source.
func (s *Source) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: s.opts.Name, Categories: []string{"events"}}
}

// filter returns the subject filter of the subject's events in the
// stream, or false when the subject has no identity of the source's
// kind.
func (s *Source) filter(tenantID string, subj gdpr.Subject) (string, bool) {
	key := subj.Value(s.opts.Identity)
	if key == "" {
		return "", false
	}
	return s.opts.Prefix + "." + tenantID + "." + events.SubjectToken(key) + ".>", true
}

// Count implements gdpr.Counter: the subject's messages in the stream
// and its dead letters.
func (s *Source) Count(ctx context.Context, tenantID string, subj gdpr.Subject) (int, error) {
	f, ok := s.filter(tenantID, subj)
	if !ok {
		return 0, nil
	}
	n, err := s.count(ctx, s.stream, f)
	if err != nil {
		return 0, err
	}
	d, err := s.count(ctx, DeadLetterStream(s.stream), DeadLetterPrefix(s.stream)+".*."+f)
	return n + d, err
}

func (s *Source) count(ctx context.Context, stream, filter string) (int, error) {
	st, err := s.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("events jetstream: gdpr: stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("events jetstream: gdpr: stream %s: %w", stream, err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// Export implements gdpr.Source: each retained event of the subject,
// oldest first.
func (s *Source) Export(ctx context.Context, tenantID string, subj gdpr.Subject, emit func(record any) error) error {
	f, ok := s.filter(tenantID, subj)
	if !ok {
		return nil
	}
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return fmt.Errorf("events jetstream: gdpr export: %w", err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{f}})
	if err != nil {
		return fmt.Errorf("events jetstream: gdpr export: %w", err)
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("events jetstream: gdpr export: %w", err)
		}
		if info.NumPending == 0 {
			return nil
		}
		batch, err := cons.FetchNoWait(int(min(info.NumPending, 256)))
		if err != nil {
			return fmt.Errorf("events jetstream: gdpr export: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			e, err := Decode(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				continue
			}
			rec := map[string]any{"id": e.ID, "type": e.Type, "version": e.Version, "occurred_at": e.OccurredAt, "aggregate": e.AggregateKey}
			if json.Valid(e.Payload) {
				rec["payload"] = json.RawMessage(e.Payload)
			} else {
				rec["payload"] = e.Payload
			}
			if err := emit(rec); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("events jetstream: gdpr export: %w", err)
		}
		if got == 0 {
			return nil
		}
	}
}

// Erase implements gdpr.Source: it purges the subject's messages from
// the stream and its dead letters by subject.
func (s *Source) Erase(ctx context.Context, tenantID string, subj gdpr.Subject) (gdpr.Erased, error) {
	f, ok := s.filter(tenantID, subj)
	if !ok {
		return gdpr.Erased{Note: "no " + s.opts.Identity + " identity: no events to purge"}, nil
	}
	n, err := s.Count(ctx, tenantID, subj)
	if err != nil {
		return gdpr.Erased{}, err
	}
	for _, p := range []struct{ stream, filter string }{
		{s.stream, f}, {DeadLetterStream(s.stream), DeadLetterPrefix(s.stream) + ".*." + f},
	} {
		st, err := s.js.Stream(ctx, p.stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return gdpr.Erased{}, fmt.Errorf("events jetstream: gdpr erase: %w", err)
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(p.filter)); err != nil {
			return gdpr.Erased{}, fmt.Errorf("events jetstream: gdpr erase: purge %s: %w", p.stream, err)
		}
	}
	return gdpr.Erased{Records: n, Note: fmt.Sprintf("purged %d messages by subject from streams %s and %s (purge, not crypto-shredding)",
		n, s.stream, DeadLetterStream(s.stream))}, nil
}
