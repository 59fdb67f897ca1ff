package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/saaskit/saaskit/backup/retention"
)

// Job is a scheduled backup.
type Job struct {
	// Name identifies the job in leases, logs and metrics.
	Name   string
	Source Source
	// Every is the interval between backups.
	Every time.Duration
	// RPO is the recovery point objective: a last good backup older than
	// this is a violation. Default twice Every.
	RPO time.Duration
	// DrillEvery, when set, restores the newest backup this often.
	DrillEvery time.Duration
	// VerifyEvery, when set, reads every copy of the newest backup this
	// often (CheckReadAll).
	VerifyEvery time.Duration
	// Drill configures the drills.
	Drill DrillOptions
	// Placements of the targets, for the 3-2-1 check.
	Placements []Placement
	// Retention, when set, prunes the catalog after each good backup
	// (retention.GFS(), say). Backups being restored are kept.
	Retention *retention.Policy
}

// Leases keep two processes from running the same job at once.
// MemoryLeases is one, for a single process.
type Leases interface {
	// Acquire takes the job's lease for holder until ttl passes, unless
	// another holder has it; it reports whether holder has it now.
	Acquire(ctx context.Context, job, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease back if holder has it.
	Release(ctx context.Context, job, holder string) error
}

// MemoryLeases are Leases in memory.
type MemoryLeases struct {
	mu     sync.Mutex
	now    func() time.Time
	leases map[string]struct {
		holder string
		until  time.Time
	}
}

// NewMemoryLeases returns empty leases; now defaults to time.Now.
func NewMemoryLeases(now func() time.Time) *MemoryLeases {
	if now == nil {
		now = time.Now
	}
	return &MemoryLeases{now: now, leases: map[string]struct {
		holder string
		until  time.Time
	}{}}
}

// Acquire implements Leases.
func (m *MemoryLeases) Acquire(_ context.Context, job, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[job]
	now := m.now()
	if ok && l.holder != holder && now.Before(l.until) {
		return false, nil
	}
	l.holder, l.until = holder, now.Add(ttl)
	m.leases[job] = l
	return true, nil
}

// Release implements Leases.
func (m *MemoryLeases) Release(_ context.Context, job, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[job]; ok && l.holder == holder {
		delete(m.leases, job)
	}
	return nil
}

// Status is a job's or a continuous source's state, for dashboards
// and the metrics.
type Status struct {
	Job string `json:"job"`
	// Continuous is set on a continuous source's status: it has no runs,
	// sizes or copies, only its newest point and its drills.
	Continuous   bool          `json:"continuous,omitempty"`
	LastSuccess  time.Time     `json:"last_success,omitzero"`
	LastBackup   string        `json:"last_backup,omitempty"`
	LastError    string        `json:"last_error,omitempty"`
	LastDuration time.Duration `json:"-"` // JSON last_duration_seconds
	LastBytes    int64         `json:"last_bytes"`
	Copies       int           `json:"copies"`
	Violations   []string      `json:"rule_321_violations,omitempty"`
	LastDrill    *DrillReport  `json:"last_drill,omitempty"`
	LastVerify   *Verified     `json:"last_verify,omitempty"`
	RPOViolated  bool          `json:"rpo_violated"`
	// NewestPoint is the newest point a restore can reach: when the last
	// good backup started (its data is as of then), or the newest point
	// of a continuous source, as last measured.
	NewestPoint time.Time `json:"newest_point,omitzero"`
	// AchievedRPO is how long before the Status call NewestPoint was:
	// what losing the source now would lose at most. Zero without a
	// point. JSON achieved_rpo_seconds.
	AchievedRPO time.Duration `json:"-"`
}

// MarshalJSON writes the status with its durations in seconds.
func (s Status) MarshalJSON() ([]byte, error) {
	type fields Status
	var rpo *float64
	if !s.NewestPoint.IsZero() {
		v := s.AchievedRPO.Seconds()
		rpo = &v
	}
	return json.Marshal(struct {
		fields
		LastDurationSeconds float64  `json:"last_duration_seconds"`
		AchievedRPOSeconds  *float64 `json:"achieved_rpo_seconds,omitempty"`
	}{fields(s), s.LastDuration.Seconds(), rpo})
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Holder names this process in leases. Default: the host name.
	Holder string
	// Leases. Default: MemoryLeases (one process).
	Leases Leases
	// MaxRetry bounds the retries of a failing backup (exponential,
	// from one second). Default 5 minutes.
	MaxRetry time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives saaskit.backup.* gauges. Default global.
	MeterProvider metric.MeterProvider
	// Continuous are the sources backed up continuously whose achieved
	// RPO the Scheduler measures and whose point-in-time restores it
	// drills. Their names must differ from each other and from the
	// jobs'. Default none.
	Continuous []Continuous
}

// Scheduler runs backup jobs on their intervals, one process at a time
// per job, retrying failures, drilling restores, and reporting age, RPO
// and 3-2-1 status as metrics. It measures the achieved RPO of
// continuous sources and drills their point-in-time restores.
type Scheduler struct {
	b          *Backups
	jobs       []Job
	continuous []Continuous
	opts       SchedulerOptions

	mu     sync.Mutex
	status map[string]*Status
}

// NewScheduler returns a Scheduler of jobs on b.
func NewScheduler(b *Backups, jobs []Job, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Holder == "" {
		opts.Holder, _ = osHostname()
	}
	if opts.Leases == nil {
		opts.Leases = NewMemoryLeases(opts.Now)
	}
	if opts.MaxRetry <= 0 {
		opts.MaxRetry = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scheduler{b: b, jobs: slices.Clone(jobs), continuous: slices.Clone(opts.Continuous), opts: opts, status: map[string]*Status{}}
	s.opts.Continuous = nil
	for i, j := range jobs {
		if j.Name == "" || j.Source == nil || j.Every <= 0 {
			return nil, fmt.Errorf("%w: job %d needs a name, a source and an interval", ErrInvalid, i)
		}
		if s.status[j.Name] != nil {
			return nil, fmt.Errorf("%w: job %d: name %q is taken", ErrInvalid, i, j.Name)
		}
		if j.RPO <= 0 {
			s.jobs[i].RPO = 2 * j.Every
		}
		s.status[j.Name] = &Status{Job: j.Name, Violations: Check321(j.Placements)}
	}
	for i, c := range s.continuous {
		if c.Name == "" || c.Newest == nil {
			return nil, fmt.Errorf("%w: continuous source %d needs a name and Newest", ErrInvalid, i)
		}
		if s.status[c.Name] != nil {
			return nil, fmt.Errorf("%w: continuous source %d: name %q is taken", ErrInvalid, i, c.Name)
		}
		if c.RPO <= 0 {
			s.continuous[i].RPO = 5 * time.Minute
		}
		s.status[c.Name] = &Status{Job: c.Name, Continuous: true}
	}
	if err := s.observe(); err != nil {
		return nil, err
	}
	return s, nil
}

// Status returns a copy of a job's status.
func (s *Scheduler) Status(job string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[job]
	if !ok {
		return Status{}, false
	}
	c := *st
	now := s.opts.Now()
	c.RPOViolated = s.rpoViolated(job, st, now)
	if !c.NewestPoint.IsZero() {
		c.AchievedRPO = max(0, now.Sub(c.NewestPoint))
	}
	return c, true
}

func (s *Scheduler) rpoViolated(job string, st *Status, now time.Time) bool {
	for _, j := range s.jobs {
		if j.Name == job {
			return st.LastSuccess.IsZero() || now.Sub(st.LastSuccess) > j.RPO
		}
	}
	for _, c := range s.continuous {
		if c.Name == job {
			return st.NewestPoint.IsZero() || now.Sub(st.NewestPoint) > c.RPO
		}
	}
	return false
}

// Run runs due jobs until ctx ends, checking every tick (default a
// minute when zero).
func (s *Scheduler) Run(ctx context.Context, tick time.Duration) error {
	if tick <= 0 {
		tick = time.Minute
	}
	for {
		s.RunDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tick):
		}
	}
}

// RunDue runs, once, every job whose interval has passed since its last
// success (and drills whose interval has passed), and measures each
// continuous source, drilling it when its interval has passed.
func (s *Scheduler) RunDue(ctx context.Context) {
	for _, j := range s.jobs {
		now := s.opts.Now()
		s.refresh(ctx, j, now)
		s.mu.Lock()
		st := *s.status[j.Name]
		s.mu.Unlock()
		if st.LastSuccess.IsZero() || now.Sub(st.LastSuccess) >= j.Every {
			s.runJob(ctx, j)
		}
		s.mu.Lock()
		st = *s.status[j.Name]
		s.mu.Unlock()
		if j.VerifyEvery > 0 && st.LastBackup != "" && (st.LastVerify == nil || now.Sub(st.LastVerify.At) >= j.VerifyEvery) {
			v := Verified{ID: st.LastBackup, At: now.UTC(), Level: CheckReadAll.String(), OK: true}
			if err := s.b.Verify(ctx, st.LastBackup, CheckReadAll); err != nil {
				v.OK, v.Error = false, err.Error()
				s.opts.Logger.ErrorContext(ctx, "backup verification failed", slog.String("job", j.Name), slog.String("error", err.Error()))
			}
			s.mu.Lock()
			s.status[j.Name].LastVerify = &v
			s.mu.Unlock()
		}
		if j.DrillEvery > 0 && st.LastBackup != "" && (st.LastDrill == nil || now.Sub(st.LastDrill.At) >= j.DrillEvery) {
			r := s.b.Drill(ctx, st.LastBackup, j.Drill)
			s.mu.Lock()
			s.status[j.Name].LastDrill = &r
			s.mu.Unlock()
			if !r.OK {
				s.opts.Logger.ErrorContext(ctx, "backup drill failed", slog.String("job", j.Name), slog.String("error", r.Error))
			}
		}
	}
	for _, c := range s.continuous {
		s.runContinuous(ctx, c)
	}
}

// refresh learns the job's last good backup from the catalog, which
// another process (or this one before a restart) may have written.
func (s *Scheduler) refresh(ctx context.Context, j Job, now time.Time) {
	m, err := s.b.At(ctx, j.Source.Name(), now)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.status[j.Name]; m.Finished.After(st.LastSuccess) {
		st.LastSuccess, st.LastBackup, st.LastBytes, st.Copies, st.NewestPoint = m.Finished, m.ID, m.StoredSize, len(m.Targets), m.Started
	}
}

// runJob backs up under the job's lease, retrying with backoff.
func (s *Scheduler) runJob(ctx context.Context, j Job) {
	ok, err := s.opts.Leases.Acquire(ctx, j.Name, s.opts.Holder, s.opts.MaxRetry+time.Hour)
	if err != nil || !ok {
		return // another process runs it
	}
	defer func() { _ = s.opts.Leases.Release(context.WithoutCancel(ctx), j.Name, s.opts.Holder) }()
	start := s.opts.Now()
	policy := backoff.NewExponentialBackOff()
	policy.InitialInterval, policy.MaxElapsedTime = time.Second, s.opts.MaxRetry
	var m *Manifest
	err = backoff.Retry(func() error {
		var err error
		m, err = s.run(ctx, j)
		return err
	}, backoff.WithContext(policy, ctx))
	s.mu.Lock()
	st := s.status[j.Name]
	st.LastDuration = s.opts.Now().Sub(start)
	if err != nil {
		st.LastError = err.Error()
		s.mu.Unlock()
		s.opts.Logger.ErrorContext(ctx, "backup failed", slog.String("job", j.Name), slog.String("error", err.Error()))
		return
	}
	st.LastSuccess, st.LastBackup, st.LastError, st.LastBytes, st.Copies = m.Finished, m.ID, "", m.StoredSize, len(m.Targets)
	st.NewestPoint = m.Started
	s.mu.Unlock()
	if j.Retention != nil { // outside the lock: pruning reads and deletes on every target
		if _, err := s.b.Prune(ctx, *j.Retention, retention.Options{}); err != nil {
			s.mu.Lock()
			st.LastError = "prune: " + err.Error()
			s.mu.Unlock()
			s.opts.Logger.ErrorContext(ctx, "backup prune failed", slog.String("job", j.Name), slog.String("error", err.Error()))
		}
	}
}

// run backs the job up once. A key problem, or a panic of the job's
// Source or of the Cipher, needs a person: the error is permanent. A
// panic is logged with its stack and becomes the job's error; Run has
// taken back what it wrote before the panic reached here.
func (s *Scheduler) run(ctx context.Context, j Job) (m *Manifest, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Logger.ErrorContext(ctx, "backup panicked", slog.String("job", j.Name),
				slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			m, err = nil, backoff.Permanent(fmt.Errorf("backup of job %s panicked: %v", j.Name, r))
		}
	}()
	m, err = s.b.Run(ctx, j.Source)
	if errors.Is(err, ErrNoKey) {
		return nil, backoff.Permanent(err)
	}
	return m, err
}

// observe registers the gauges.
func (s *Scheduler) observe() error {
	mp := s.opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter("github.com/saaskit/saaskit/backup")
	age, err := meter.Float64ObservableGauge("saaskit.backup.age", metric.WithUnit("s"),
		metric.WithDescription("Time since the job's last successful backup."))
	if err != nil {
		return err
	}
	rpo, err := meter.Int64ObservableGauge("saaskit.backup.rpo.violated", metric.WithDescription("1 when the last good backup is older than the RPO."))
	if err != nil {
		return err
	}
	size, err := meter.Int64ObservableGauge("saaskit.backup.size", metric.WithUnit("By"), metric.WithDescription("Stored size of the last backup."))
	if err != nil {
		return err
	}
	copies, err := meter.Int64ObservableGauge("saaskit.backup.copies", metric.WithDescription("Targets holding the last backup."))
	if err != nil {
		return err
	}
	rule, err := meter.Int64ObservableGauge("saaskit.backup.rule321.violations", metric.WithDescription("Ways the targets break the 3-2-1 rule."))
	if err != nil {
		return err
	}
	drill, err := meter.Float64ObservableGauge("saaskit.backup.drill.duration", metric.WithUnit("s"),
		metric.WithDescription("Measured restore time of the last drill (attribute kind: full or point_in_time), the achieved RTO; absent until one passed."))
	if err != nil {
		return err
	}
	checks, err := meter.Int64ObservableGauge("saaskit.backup.check.ok",
		metric.WithDescription("1 when the last drill or verification (attribute check) passed, 0 when it failed."))
	if err != nil {
		return err
	}
	lastSuccess, err := meter.Int64ObservableGauge("saaskit.backup.last_success", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the last successful backup."))
	if err != nil {
		return err
	}
	duration, err := meter.Float64ObservableGauge("saaskit.backup.duration", metric.WithUnit("s"),
		metric.WithDescription("How long the last backup run took, retries included."))
	if err != nil {
		return err
	}
	achieved, err := meter.Float64ObservableGauge("saaskit.backup.rpo.achieved", metric.WithUnit("s"),
		metric.WithDescription("Age of the newest point a restore can reach (attribute kind: periodic or continuous): what losing the source now would lose at most."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s.Measure(ctx) // outside the lock: it may read the targets
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.opts.Now()
		for name, st := range s.status {
			attrs := metric.WithAttributes(attribute.String("job", name))
			kind, drillKind := "periodic", DrillFull
			if st.Continuous {
				kind, drillKind = "continuous", DrillPointInTime
			}
			o.ObserveInt64(rpo, boolInt(s.rpoViolated(name, st, now)), attrs)
			if !st.NewestPoint.IsZero() {
				o.ObserveFloat64(achieved, max(0, now.Sub(st.NewestPoint)).Seconds(),
					metric.WithAttributes(attribute.String("job", name), attribute.String("kind", kind)))
			}
			if st.LastDrill != nil && st.LastDrill.OK {
				o.ObserveFloat64(drill, st.LastDrill.Duration.Seconds(),
					metric.WithAttributes(attribute.String("job", name), attribute.String("kind", drillKind)))
			}
			if st.LastDrill != nil {
				o.ObserveInt64(checks, boolInt(st.LastDrill.OK), metric.WithAttributes(attribute.String("job", name), attribute.String("check", "drill")))
			}
			if st.Continuous {
				continue // no runs: no age, size, copies or durations
			}
			if !st.LastSuccess.IsZero() {
				o.ObserveFloat64(age, now.Sub(st.LastSuccess).Seconds(), attrs)
			}
			o.ObserveInt64(size, st.LastBytes, attrs)
			o.ObserveInt64(copies, int64(st.Copies), attrs)
			o.ObserveInt64(rule, int64(len(st.Violations)), attrs)
			if st.LastVerify != nil {
				o.ObserveInt64(checks, boolInt(st.LastVerify.OK), metric.WithAttributes(attribute.String("job", name), attribute.String("check", "verify")))
			}
			if !st.LastSuccess.IsZero() {
				o.ObserveInt64(lastSuccess, st.LastSuccess.Unix(), attrs)
			}
			o.ObserveFloat64(duration, st.LastDuration.Seconds(), attrs)
		}
		return nil
	}, age, rpo, size, copies, rule, drill, checks, lastSuccess, duration, achieved)
	return err
}

// osHostname names this process in leases.
func osHostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "backup-scheduler", err
	}
	return h + "/" + strconv.Itoa(os.Getpid()), nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
