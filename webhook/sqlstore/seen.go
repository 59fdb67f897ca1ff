package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

// SeenOptions configure Seen. The zero value is a sensible default.
type SeenOptions struct {
	// Now is the clock that decides whether an id's time is up. Every
	// receiver sharing the database should read a clock that agrees to
	// well within a second. Default time.Now.
	Now func() time.Time
}

// Seen is a webhook.SeenStore over the table webhook_seen: the
// receiver's replay protection shared by every process on the database.
// Make it with Store.Seen; Store.Migrate creates its table.
type Seen struct {
	db      *sqldb.DB
	now     func() time.Time
	sweepAt atomic.Int64 // Unix microseconds of MarkSeen's next sweep
}

var _ webhook.SeenStore = (*Seen)(nil)

// Seen returns the SeenStore on the store's database.
func (s *Store) Seen(opts SeenOptions) *Seen {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Seen{db: s.db, now: opts.Now}
}

func (s *Seen) q(query string) string { return s.db.Dialect.Rebind(query) }

// MarkSeen implements webhook.SeenStore in one statement: it inserts the
// id, or takes over its row if that row's time is up, and otherwise
// writes nothing; of any number of receivers marking one id at once,
// exactly one sees it new. Rows whose time is up are deleted, up to
// 1,000 at a time, once a minute and again at once while a sweep finds a
// full batch; Expire does the same on demand.
func (s *Seen) MarkSeen(ctx context.Context, id string, until time.Time) (bool, error) {
	now := s.now()
	at := now.UnixMicro()
	s.sweepSometimes(ctx, at)
	var got int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO webhook_seen (id, until) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET until = excluded.until WHERE webhook_seen.until <= ?
		RETURNING until`), []byte(id), until.UnixMicro(), at).Scan(&got)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows): // seen, and its time is not up
		return false, nil
	}
	return false, fmt.Errorf("webhook sqlstore: mark seen: %w", err)
}

// Forget implements webhook.SeenStore.
func (s *Seen) Forget(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM webhook_seen WHERE id = ?"), []byte(id)); err != nil {
		return fmt.Errorf("webhook sqlstore: forget seen: %w", err)
	}
	return nil
}

const (
	// seenSweepEvery is how often MarkSeen sweeps ids whose time is up,
	// while the last sweep found fewer than seenSweepBatch.
	seenSweepEvery = time.Minute
	// seenSweepBatch bounds the rows one sweep deletes.
	seenSweepBatch = 1000
)

// sweepSometimes runs one sweep when one is due at at (Unix
// microseconds), in the caller's goroutine. Its failure is left for the
// next sweep.
func (s *Seen) sweepSometimes(ctx context.Context, at int64) {
	next := s.sweepAt.Load()
	if at < next || !s.sweepAt.CompareAndSwap(next, at+seenSweepEvery.Microseconds()) {
		return
	}
	if n, err := s.expire(ctx, at, seenSweepBatch); err == nil && n == seenSweepBatch {
		s.sweepAt.Store(at) // more to do: sweep again on the next MarkSeen
	}
}

// Expire deletes up to batch ids (default 1,000 when batch <= 0) whose
// time is up, and returns how many it deleted. MarkSeen calls it by
// itself; call it from a job to clean up on a schedule of your own.
func (s *Seen) Expire(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = seenSweepBatch
	}
	return s.expire(ctx, s.now().UnixMicro(), batch)
}

func (s *Seen) expire(ctx context.Context, at int64, batch int) (int, error) {
	// The outer condition is checked again on rows a concurrent MarkSeen
	// took over after the subquery read them.
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM webhook_seen WHERE until <= ? AND id IN
		(SELECT id FROM webhook_seen WHERE until <= ? ORDER BY until LIMIT ?)`), at, at, batch)
	if err != nil {
		return 0, fmt.Errorf("webhook sqlstore: expire seen: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("webhook sqlstore: expire seen: %w", err)
	}
	return int(n), nil
}
