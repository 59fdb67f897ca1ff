package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Continuous is a source backed up continuously rather than by
// scheduled runs: a SQLite database whose changes backup/replicate
// ships as they commit (replicate.Continuous, Replicator.Continuous),
// or a PostgreSQL cluster whose WAL is archived (Backups.NewestWAL). A
// Scheduler given it (SchedulerOptions.Continuous) measures its
// achieved RPO, how old the newest point a restore can reach is, and,
// when it can restore, drills a point-in-time restore and records how
// long it took: the achieved RTO.
type Continuous struct {
	// Name identifies the source in Status, logs and metrics (attribute
	// job, as a Job's name does). Required.
	Name string
	// Newest returns the newest point a restore can reach: everything
	// committed before it is on the targets. The Scheduler calls it on
	// each RunDue and on each metric collection, possibly at once.
	// Required.
	Newest func(ctx context.Context) (time.Time, error)
	// Restore writes the source as it was at the point at to path, a
	// new file (for SQLite, the database) or directory (for PostgreSQL,
	// Backups.PostgresDrill: a data directory, started, checked and
	// stopped). Optional: without it the source is measured but not
	// drilled.
	Restore func(ctx context.Context, at time.Time, path string) error
	// RPO is the recovery point objective: a newest point older than
	// this is a violation. Default 5 minutes.
	RPO time.Duration
	// DrillEvery, when set with Restore, restores the source as it was
	// at its newest point this often (DrillAt).
	DrillEvery time.Duration
	// Drill configures the drills: the scratch directory and the check
	// of the restored file (sqlitecheck.Integrity or sqlitecheck.Query
	// for SQLite).
	Drill DrillOptions
}

// Kinds of drill, in DrillReport.Kind and the drill gauges' kind
// attribute.
const (
	// DrillFull restores a whole backup (Backups.Drill).
	DrillFull = "full"
	// DrillPointInTime restores a continuous source to a point in time
	// (Continuous.DrillAt).
	DrillPointInTime = "point_in_time"
)

// DrillAt restores the source as it was at the point at (its newest
// point when at is zero) into a new file in scratch space, removed
// afterwards, runs the check, and measures the time the restore and the
// check took: the recovery time achieved for a restore to a point in
// time. The report always comes back; a failed drill has OK false and
// says why.
func (c Continuous) DrillAt(ctx context.Context, at time.Time) DrillReport {
	return c.drill(ctx, at, time.Now())
}

func (c Continuous) drill(ctx context.Context, at, now time.Time) DrillReport {
	r := DrillReport{Kind: DrillPointInTime, Source: c.Name, At: now.UTC()}
	fail := func(err error) DrillReport {
		r.Error = err.Error()
		return r
	}
	if c.Restore == nil {
		return fail(fmt.Errorf("%w: continuous source %q has no Restore", ErrInvalid, c.Name))
	}
	if at.IsZero() {
		if c.Newest == nil {
			return fail(fmt.Errorf("%w: continuous source %q has no Newest", ErrInvalid, c.Name))
		}
		newest, err := c.Newest(ctx)
		if err != nil {
			return fail(fmt.Errorf("newest point: %w", err))
		}
		at = newest
	}
	r.Point = at.UTC()
	dir, err := os.MkdirTemp(c.Drill.ScratchDir, "drill-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "restored")
	start := time.Now()
	err = c.Restore(ctx, at, path)
	if err == nil && c.Drill.Check != nil {
		if cerr := c.Drill.Check(ctx, path); cerr != nil {
			err = fmt.Errorf("check of the restored copy: %w", cerr)
		}
	}
	r.Duration = time.Since(start)
	r.Bytes = restoredSize(path)
	if err != nil {
		return fail(err)
	}
	r.OK = true
	return r
}

// restoredSize is the size of the file at path, or of the files under
// it when it is a directory (a PostgreSQL data directory).
func restoredSize(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// NewestWAL returns when the newest archived WAL segment was archived:
// the newest point a point-in-time restore of the PostgreSQL cluster
// can reach (WALStatus). It wraps ErrNotFound when no segment is
// archived. Use it as a Continuous source's Newest:
//
//	backup.Continuous{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute}
func (b *Backups) NewestWAL(ctx context.Context) (time.Time, error) {
	st, err := b.WALStatus(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if st.Newest == "" {
		return time.Time{}, fmt.Errorf("wal: no segment archived: %w", ErrNotFound)
	}
	return st.NewestPushed, nil
}

// Measure measures every continuous source now, as RunDue and each
// metric collection do: call it before Status for a figure of this
// moment rather than of the last tick.
func (s *Scheduler) Measure(ctx context.Context) {
	for _, c := range s.continuous {
		s.measure(ctx, c)
	}
}

// measure asks a continuous source for its newest point and records it
// (or the error) in its status.
func (s *Scheduler) measure(ctx context.Context, c Continuous) {
	newest, err := c.Newest(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status[c.Name]
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			st.LastError = "newest point: " + err.Error()
		}
		return
	}
	st.LastError, st.NewestPoint = "", newest
}

// runContinuous measures a continuous source and drills it when due.
func (s *Scheduler) runContinuous(ctx context.Context, c Continuous) {
	s.measure(ctx, c)
	if c.Restore == nil || c.DrillEvery <= 0 {
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	st := *s.status[c.Name]
	s.mu.Unlock()
	if st.NewestPoint.IsZero() || (st.LastDrill != nil && now.Sub(st.LastDrill.At) < c.DrillEvery) {
		return
	}
	r := c.drill(ctx, st.NewestPoint, now)
	s.mu.Lock()
	s.status[c.Name].LastDrill = &r
	s.mu.Unlock()
	if !r.OK {
		s.opts.Logger.ErrorContext(ctx, "point-in-time drill failed", slog.String("source", c.Name), slog.String("error", r.Error))
	}
}
