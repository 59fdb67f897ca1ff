package gdpr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/internal/textfield"
)

// Source is a data store that holds personal data. Each source finds a
// subject by the identities it knows, exports their data, and erases it;
// both are safe to run again (erasing twice is harmless).
type Source interface {
	// Info names the source, its data categories, and the sources it
	// must be erased after.
	Info() SourceInfo
	// Export calls emit with each of the subject's records, as
	// JSON-encodable values, one at a time (so exports stream).
	Export(ctx context.Context, tenantID string, s Subject, emit func(record any) error) error
	// Erase erases or masks the subject's data and says what it did.
	Erase(ctx context.Context, tenantID string, s Subject) (Erased, error)
}

// SourceInfo describes a source.
type SourceInfo struct {
	// Name is unique among an Engine's sources: 1 to 64 of a-z, 0-9,
	// '_', '-' and '.', and not "manifest" (see CheckSourceName).
	Name string
	// Categories of personal data held (contact, billing, usage, ...).
	Categories []string
	// After lists sources whose erasure must finish before this one's
	// starts (for example a source whose rows reference theirs).
	After []string
}

// Counter is a Source that can count the records of a subject that its
// erasure would erase or mask. Before a step first runs, the Engine
// stores the count in the request (Step.Found), so that a step run
// again after its checkpoint was lost, which finds nothing left to
// erase, still reports the records the first run erased. A source that
// is not a Counter reports, after such a run, the records of that run
// only, and its step's note says so.
type Counter interface {
	// Count returns how many records the source holds about s.
	Count(ctx context.Context, tenantID string, s Subject) (int, error)
}

// Erased is what one source's erasure did.
type Erased struct {
	Records int    // erased or masked
	Note    string // for the request's record, e.g. which backups are now unreadable
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// reservedSourceNames are taken by an export's own files: a source named
// manifest would write a second manifest.json into a ZIP export.
var reservedSourceNames = []string{"manifest"}

// CheckSourceName returns an error wrapping ErrInvalid when name cannot
// name a source: it must be 1 to 64 of a-z, 0-9, '_', '-' and '.',
// starting with a letter or digit, and not "manifest", which a ZIP
// export's manifest.json takes. For Source constructors that derive a
// name, so they refuse it when made rather than when New is called.
func CheckSourceName(name string) error {
	if !sourceName.MatchString(name) {
		return fmt.Errorf("%w: source name %q: 1 to 64 of a-z, 0-9, '_', '-', '.'", ErrInvalid, name)
	}
	if slices.Contains(reservedSourceNames, name) {
		return fmt.Errorf("%w: source name %q is reserved for the export's own %s.json", ErrInvalid, name, name)
	}
	return nil
}

// Options configure an Engine.
type Options struct {
	// Now is the clock of deadlines and steps. Default time.Now.
	Now func() time.Time
	// Parallelism bounds the sources erased at once. Default 4.
	Parallelism int
	// Logger records step failures. Default slog.Default().
	Logger *slog.Logger
	// Holds, when set, keeps legal holds (PlaceHold): an erasure of a
	// held subject stops before its next step with ErrHeld, and
	// retention sweeps spare held data. Share it between replicas (gdpr/sqlstore) so that a
	// hold placed through one blocks erasures through all.
	Holds HoldStore
	// OnChange, when set, hears every stored change of a request
	// ("submitted", "verified", "denied", "extended", "completed",
	// "failed", "restriction lifted"), for the audit trail (gdpr/audit).
	// An error it returns is returned by the call that made the change,
	// after the change was stored.
	OnChange func(ctx context.Context, r *Request, action string) error
}

// Engine runs data-subject requests over the registered sources.
type Engine struct {
	store   Store
	sources map[string]Source
	names   []string // sorted
	opts    Options
}

// New returns an Engine. Source names must be unique and valid
// (CheckSourceName), every
// After must name a source, and the After relation must have no cycle.
func New(store Store, opts Options, sources ...Source) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: a Store is required", ErrInvalid)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{store: store, sources: map[string]Source{}, opts: opts}
	for _, s := range sources {
		info := s.Info()
		if err := CheckSourceName(info.Name); err != nil {
			return nil, err
		}
		if _, dup := e.sources[info.Name]; dup {
			return nil, fmt.Errorf("%w: two sources named %q", ErrInvalid, info.Name)
		}
		e.sources[info.Name] = s
		e.names = append(e.names, info.Name)
	}
	slices.Sort(e.names)
	for _, name := range e.names {
		for _, dep := range e.sources[name].Info().After {
			if _, ok := e.sources[dep]; !ok {
				return nil, fmt.Errorf("%w: source %q is erased after %q, which is not registered", ErrInvalid, name, dep)
			}
		}
	}
	if cycle := e.cycle(); cycle != nil {
		return nil, fmt.Errorf("%w: sources' erasure order has a cycle: %s", ErrInvalid, strings.Join(cycle, " -> "))
	}
	return e, nil
}

// cycle returns a cycle of the After relation, if any.
func (e *Engine) cycle() []string {
	const (
		unseen = iota
		active
		finished
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case active:
			i := slices.Index(path, n)
			return append(slices.Clone(path[i:]), n)
		case finished:
			return nil
		}
		state[n] = active
		path = append(path, n)
		for _, dep := range e.sources[n].Info().After {
			if c := visit(dep); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[n] = finished
		return nil
	}
	for _, n := range e.names {
		if c := visit(n); c != nil {
			return c
		}
	}
	return nil
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "dsr_" + hex.EncodeToString(b)
}

// Submit records a new request, received now, with its deadlines.
func (e *Engine) Submit(ctx context.Context, tenantID string, kind Kind, regime Regime, subject Subject, channel string) (*Request, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrInvalid)
	}
	switch kind {
	case Access, Portability, Erasure, Rectification, Restriction:
	default:
		return nil, fmt.Errorf("%w: request kind %q", ErrInvalid, kind)
	}
	if err := subject.validate(); err != nil {
		return nil, err
	}
	if !textfield.Storable(tenantID, channel) || !textfield.StorableValue(subject) {
		return nil, fmt.Errorf("%w: tenant, channel and subject must be valid UTF-8 without NUL bytes", ErrInvalid)
	}
	now := e.opts.Now().UTC()
	ack, due, err := Deadlines(regime, now)
	if err != nil {
		return nil, err
	}
	r := &Request{ID: newRequestID(), TenantID: tenantID, Kind: kind, Regime: regime, Subject: subject, Channel: channel,
		State: Received, ReceivedAt: now, AcknowledgeBy: ack, DueAt: due}
	if err := e.store.Create(ctx, r); err != nil {
		return nil, err
	}
	return r, e.changed(ctx, r, "submitted")
}

// changed tells OnChange of a stored change.
func (e *Engine) changed(ctx context.Context, r *Request, action string) error {
	if e.opts.OnChange == nil {
		return nil
	}
	return e.opts.OnChange(ctx, r, action)
}

// transition loads a request, checks its state is one of from, applies
// change and stores it.
func (e *Engine) transition(ctx context.Context, tenantID, id, action string, from []State, change func(r *Request) error) (*Request, error) {
	r, err := e.store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(from, r.State) {
		return nil, fmt.Errorf("%w: request %s is %s", ErrWrongStep, id, r.State)
	}
	if err := change(r); err != nil {
		return nil, err
	}
	if err := e.store.Update(ctx, r); err != nil {
		return nil, err
	}
	if action == "" {
		return r, nil
	}
	return r, e.changed(ctx, r, action)
}

// Verify records that the requester's identity was verified: the
// request may now be processed.
func (e *Engine) Verify(ctx context.Context, tenantID, id string) (*Request, error) {
	return e.transition(ctx, tenantID, id, "verified", []State{Received}, func(r *Request) error {
		r.State, r.VerifiedAt = Verified, e.opts.Now().UTC()
		return nil
	})
}

// Deny closes a request without acting on it, for the reason given
// (identity not verified, manifestly unfounded, ...).
func (e *Engine) Deny(ctx context.Context, tenantID, id, reason string) (*Request, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("%w: a denial needs a reason", ErrInvalid)
	}
	return e.transition(ctx, tenantID, id, "denied", []State{Received, Verified}, func(r *Request) error {
		r.State, r.DenialReason, r.CompletedAt = Denied, reason, e.opts.Now().UTC()
		return nil
	})
}

// Extend uses the regime's one extension (GDPR two months, CCPA 45
// days), which must be notified to the subject within the first period:
// note is that notice.
func (e *Engine) Extend(ctx context.Context, tenantID, id, note string) (*Request, error) {
	if strings.TrimSpace(note) == "" {
		return nil, fmt.Errorf("%w: an extension needs the notice given to the subject", ErrInvalid)
	}
	return e.transition(ctx, tenantID, id, "extended", []State{Received, Verified, InProgress, Failed}, func(r *Request) error {
		switch {
		case r.Extended:
			return fmt.Errorf("%w: request %s was already extended", ErrWrongStep, r.ID)
		case !e.opts.Now().Before(r.DueAt):
			return fmt.Errorf("%w: request %s is past its deadline; an extension must be notified within it", ErrWrongStep, r.ID)
		}
		r.Extended, r.ExtensionNote, r.DueAt = true, note, extendedDue(r.Regime, r.ReceivedAt)
		return nil
	})
}

// Process carries out a verified request: for erasure, every source in
// dependency order, independent ones in parallel, each checkpointed in
// the request so that processing again after a failure or a crash
// resumes where it stopped. Legal holds are read again before each
// source's erasure starts: a hold on the subject, placed before or
// during processing, stops every step not yet started, and the request
// is left failed with the hold's reason in LastError and an error
// wrapping ErrHeld (processing again once the hold is lifted resumes
// it); for restriction, every Restricter source marks the
// subject's data; access and portability are completed (the export
// itself streams with Export); rectification is recorded for the
// operator to act on.
func (e *Engine) Process(ctx context.Context, tenantID, id string) (*Request, error) {
	r, err := e.transition(ctx, tenantID, id, "", []State{Verified, InProgress, Failed}, func(r *Request) error {
		r.State = InProgress
		if r.Steps == nil {
			r.Steps = map[string]Step{}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch r.Kind {
	case Erasure:
		err = e.erase(ctx, r)
	case Restriction:
		err = e.restrict(ctx, r, true)
	}
	if err != nil {
		r.State, r.LastError = Failed, err.Error()
	} else {
		r.State, r.LastError, r.CompletedAt = Completed, "", e.opts.Now().UTC()
	}
	if uerr := e.store.Update(ctx, r); uerr != nil {
		return r, errors.Join(err, uerr)
	}
	return r, errors.Join(err, e.changed(ctx, r, string(r.State)))
}

// erase runs the sources' erasures as a dependency graph. Each finished
// step is stored at once. Before each step starts, the subject's legal
// holds are read again: once one forbids the erasure, no further step
// starts.
func (e *Engine) erase(ctx context.Context, r *Request) error {
	var (
		mu      sync.Mutex // guards r and the bookkeeping below
		running = map[string]bool{}
		failed  error
		held    bool // a legal hold stopped the erasure
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, e.opts.Parallelism)
	ready := func() []string {
		var out []string
		for _, name := range e.names {
			if r.Steps[name].Done || running[name] {
				continue
			}
			deps := true
			for _, d := range e.sources[name].Info().After {
				deps = deps && r.Steps[d].Done
			}
			if deps {
				out = append(out, name)
			}
		}
		return out
	}
	progress := make(chan struct{}, len(e.names)+1)
	for {
		mu.Lock()
		if failed != nil {
			mu.Unlock()
			break
		}
		next := ready()
		for _, name := range next {
			running[name] = true
		}
		idle := len(running) == 0
		mu.Unlock()
		if len(next) == 0 && idle {
			break // everything done (or blocked behind a failure)
		}
		for _, name := range next {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots <- struct{}{}
				mu.Lock()
				stopped := held
				mu.Unlock()
				var prev Step
				var rerun bool
				var serr error
				if !stopped {
					prev, rerun, serr = e.startStep(ctx, r, name, &mu)
				}
				if stopped || serr != nil {
					<-slots
					mu.Lock()
					defer mu.Unlock()
					delete(running, name)
					if !held && serr != nil { // the first to see a hold reports it
						held, failed = errors.Is(serr, ErrHeld), errors.Join(failed, serr)
					}
					progress <- struct{}{}
					return
				}
				res, err := e.sources[name].Erase(ctx, r.TenantID, r.Subject)
				<-slots
				mu.Lock()
				defer mu.Unlock()
				delete(running, name)
				step := Step{Started: prev.Started, Found: prev.Found, At: e.opts.Now().UTC(), Records: res.Records, Note: res.Note}
				if rerun { // an earlier attempt may have erased records that it could not record
					if _, counted := e.sources[name].(Counter); counted {
						step.Records = max(step.Records, prev.Found)
					} else {
						step.Note = strings.TrimPrefix(step.Note+"; "+uncountedRerun, "; ")
					}
				}
				if err != nil {
					step.Error = err.Error()
					failed = errors.Join(failed, fmt.Errorf("source %s: %w", name, err))
					e.opts.Logger.WarnContext(ctx, "gdpr erasure step failed", slog.String("source", name), slog.String("request", r.ID), slog.String("error", err.Error()))
				} else {
					step.Done = true
				}
				r.Steps[name] = step
				if step.Done {
					if uerr := e.store.Update(ctx, r); uerr != nil { // the checkpoint
						failed = errors.Join(failed, fmt.Errorf("checkpoint after %s: %w", name, uerr))
					}
				}
				progress <- struct{}{}
			}()
		}
		<-progress
	}
	wg.Wait()
	return failed
}

// uncountedRerun is the note of a step run again, by a source that is
// not a Counter, after an attempt whose outcome was not recorded.
const uncountedRerun = "run again after an earlier attempt whose outcome was not recorded: records erased by that attempt are not counted"

// startStep readies a step of r to run: it reads the legal holds again
// and, on the step's first attempt, stores in r when it started and, from
// a Counter, how many records the source holds, before anything is
// erased. rerun reports an earlier attempt, whose effect may have gone
// unrecorded; prev is the step as that attempt left it.
func (e *Engine) startStep(ctx context.Context, r *Request, name string, mu *sync.Mutex) (prev Step, rerun bool, err error) {
	if err := e.CheckErasable(ctx, r.TenantID, r.Subject); err != nil {
		return Step{}, false, err
	}
	mu.Lock()
	prev = r.Steps[name]
	mu.Unlock()
	if !prev.Started.IsZero() {
		return prev, true, nil
	}
	step := Step{Started: e.opts.Now().UTC()}
	if c, ok := e.sources[name].(Counter); ok {
		if step.Found, err = c.Count(ctx, r.TenantID, r.Subject); err != nil {
			return Step{}, false, fmt.Errorf("source %s: count: %w", name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	r.Steps[name] = step
	if err := e.store.Update(ctx, r); err != nil {
		delete(r.Steps, name)
		if prev != (Step{}) {
			r.Steps[name] = prev
		}
		return Step{}, false, fmt.Errorf("checkpoint before %s: %w", name, err)
	}
	return step, false, nil
}

// Store returns the Engine's request store, for listings.
func (e *Engine) Store() Store { return e.store }

// restrict marks (or unmarks) the subject in every Restricter source.
func (e *Engine) restrict(ctx context.Context, r *Request, on bool) error {
	var errs []error
	for _, name := range e.names {
		rs, ok := e.sources[name].(Restricter)
		if !ok {
			continue
		}
		step := Step{At: e.opts.Now().UTC(), Done: true, Note: "processing restricted"}
		if !on {
			step.Note = "restriction lifted"
		}
		if err := rs.Restrict(ctx, r.TenantID, r.Subject, on); err != nil {
			step.Done, step.Error = false, err.Error()
			errs = append(errs, fmt.Errorf("source %s: %w", name, err))
		}
		r.Steps[name] = step
	}
	return errors.Join(errs...)
}

// LiftRestriction ends a completed restriction request's restriction in
// every Restricter source.
func (e *Engine) LiftRestriction(ctx context.Context, tenantID, id string) (*Request, error) {
	r, err := e.store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != Restriction || r.State != Completed {
		return nil, fmt.Errorf("%w: request %s is a %s request, %s", ErrWrongStep, id, r.Kind, r.State)
	}
	if err := e.restrict(ctx, r, false); err != nil {
		return nil, err
	}
	if err := e.store.Update(ctx, r); err != nil {
		return nil, err
	}
	return r, e.changed(ctx, r, "restriction lifted")
}
