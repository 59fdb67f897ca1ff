package flags

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Source holds flag definitions (flagd's JSON) somewhere: a file, a
// database, an HTTP endpoint.
type Source interface {
	// Load returns the current definitions document.
	Load(ctx context.Context) ([]byte, error)
	// Watch returns a channel that receives when the definitions may
	// have changed, until ctx ends; nil when the source cannot tell, and
	// Sync then polls. It is armed when it returns: a change made after
	// that is signalled.
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// SyncState is the health of a sync.
type SyncState int

// Sync states.
const (
	// StateReady: the source's current definitions are served.
	StateReady SyncState = iota + 1
	// StateStale: the source cannot be read; the last good definitions
	// (or the snapshot, at a cold start) are served.
	StateStale
	// StateError: the source holds invalid definitions, or nothing could
	// be served at all; the last good definitions, if any, are served.
	StateError
)

// Status is reported by Sync when its state changes.
type Status struct {
	State SyncState
	Err   error // why, for StateStale and StateError
}

// SyncOptions configure Sync.
type SyncOptions struct {
	// Poll is how often the source is read even without a change
	// notification. Default 30 seconds.
	Poll time.Duration
	// Snapshot, when set, is a file that keeps the last good definitions,
	// written after each change; at a cold start with the source down,
	// they are served from it (state StateStale).
	Snapshot string
	// OnStatus hears every change of state.
	OnStatus func(Status)
	// Logger records load failures. Default slog.Default().
	Logger *slog.Logger
}

// Sync keeps ev serving src's definitions until ctx ends. A document
// that fails to load or to compile never replaces the definitions being
// served (last known good).
func Sync(ctx context.Context, ev *Evaluator, src Source, opts SyncOptions) error {
	if opts.Poll <= 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &syncer{ev: ev, src: src, opts: opts}
	changes, err := src.Watch(ctx)
	if err != nil {
		opts.Logger.WarnContext(ctx, "flags: source cannot notify changes; polling", slog.String("error", err.Error()))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
		case <-timer.C:
		}
		s.load(ctx)
		timer.Reset(opts.Poll)
	}
}

type syncer struct {
	ev     *Evaluator
	src    Source
	opts   SyncOptions
	state  SyncState
	last   []byte // the document being served
	served bool   // something is being served
}

func (s *syncer) report(st SyncState, err error) {
	if err != nil {
		s.opts.Logger.Warn("flags: definitions not updated", slog.String("error", err.Error()))
	}
	if st == s.state {
		return
	}
	s.state = st
	if s.opts.OnStatus != nil {
		s.opts.OnStatus(Status{State: st, Err: err})
	}
}

func (s *syncer) load(ctx context.Context) {
	data, err := s.src.Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("flags: read source: %w", err)
		if !s.served && s.fromSnapshot() {
			s.report(StateStale, err)
			return
		}
		if s.served {
			s.report(StateStale, err)
		} else {
			s.report(StateError, err)
		}
		return
	}
	if s.served && bytes.Equal(data, s.last) {
		s.report(StateReady, nil)
		return
	}
	set, err := Parse(data)
	if err != nil {
		if !s.served && s.fromSnapshot() {
			s.report(StateStale, err) // the snapshot is served meanwhile
			return
		}
		s.report(StateError, err)
		return
	}
	if _, err := s.ev.Replace(set); err != nil {
		err = fmt.Errorf("flags: serve source: %w", err)
		if !s.served && s.fromSnapshot() {
			s.report(StateStale, err)
			return
		}
		s.report(StateError, err)
		return
	}
	s.last, s.served = data, true
	if err := s.writeSnapshot(data); err != nil {
		s.opts.Logger.Warn("flags: snapshot not written", slog.String("error", err.Error()))
	}
	s.report(StateReady, nil)
}

// fromSnapshot serves the snapshot file, if there is a good one.
func (s *syncer) fromSnapshot() bool {
	if s.opts.Snapshot == "" {
		return false
	}
	data, err := os.ReadFile(s.opts.Snapshot)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.opts.Logger.Warn("flags: snapshot unreadable", slog.String("error", err.Error()))
		}
		return false
	}
	set, err := Parse(data)
	if err != nil {
		s.opts.Logger.Warn("flags: snapshot invalid", slog.String("error", err.Error()))
		return false
	}
	if _, err := s.ev.Replace(set); err != nil {
		s.opts.Logger.Warn("flags: snapshot not served", slog.String("error", err.Error()))
		return false
	}
	s.served = true
	return true
}

// writeSnapshot replaces the snapshot atomically.
func (s *syncer) writeSnapshot(data []byte) error {
	if s.opts.Snapshot == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.opts.Snapshot), ".flags-snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil { // durable before it replaces the last good one
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.opts.Snapshot)
}
