package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions configure EnsureStream. The zero value is a sensible
// default.
type StreamOptions struct {
	// Prefix is the subjects' first token; the stream takes <Prefix>.>.
	// Default "events".
	Prefix string
	// Duplicates is the stream's duplicate window: a publish with an ID
	// seen within it is acked and dropped. It must exceed the longest a
	// relay may take to publish again (its lease). Default 2 minutes.
	Duplicates time.Duration
	// Replicas is the stream's replica count. Default 1.
	Replicas int
	// MaxAge bounds how long events are kept. Default: forever.
	MaxAge time.Duration
}

// DeadLetterStream is the name of the stream that keeps stream's dead
// letters, on the subjects DeadLetterPrefix(stream).>.
func DeadLetterStream(stream string) string { return stream + "_DEADLETTER" }

// DeadLetterPrefix is the first tokens of the dead-letter subjects of
// stream: deadletter.<stream>. A consumer's dead letters go to
// deadletter.<stream>.<consumer>.<the event's subject>.
func DeadLetterPrefix(stream string) string { return "deadletter." + stream }

// EnsureStream creates or updates the stream name for events under
// opts.Prefix, with file storage and the duplicate window, and its
// dead-letter stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, name string, opts StreamOptions) (jetstream.Stream, error) {
	if opts.Prefix == "" {
		opts.Prefix = "events"
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = 2 * time.Minute
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{opts.Prefix + ".>"}, Storage: jetstream.FileStorage,
		Duplicates: opts.Duplicates, Replicas: opts.Replicas, MaxAge: opts.MaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("events jetstream: stream %s: %w", name, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: DeadLetterStream(name), Subjects: []string{DeadLetterPrefix(name) + ".>"}, Storage: jetstream.FileStorage,
		Duplicates: opts.Duplicates, Replicas: opts.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("events jetstream: stream %s: %w", DeadLetterStream(name), err)
	}
	return s, nil
}
