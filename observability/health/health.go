package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ContentType is the media type of health responses.
const ContentType = "application/health+json"

// Errors. A check's error is reported as it is; these are the ones the
// Checker itself produces, and ErrWarn, which checks wrap to report warn.
var (
	// ErrWarn: a check whose error wraps it reports "warn" instead of
	// "fail", for example fmt.Errorf("%w: disk 85%% full", health.ErrWarn).
	ErrWarn = errors.New("health: warn")
	// ErrTimeout: a check did not return within its timeout, or had still
	// not returned from an earlier run that timed out.
	ErrTimeout = errors.New("health: check timed out")
	// ErrPanic: a check panicked (or called runtime.Goexit).
	ErrPanic = errors.New("health: check panicked")
	// ErrInvalid: New refused a check; the message names it and the rule.
	ErrInvalid = errors.New("health: invalid check")
)

// Status is a health status: pass, warn or fail.
type Status string

// The statuses, from best to worst.
const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// worse reports whether s is worse than t.
func (s Status) worse(t Status) bool { return s.rank() > t.rank() }

func (s Status) rank() int {
	switch s {
	case StatusPass:
		return 0
	case StatusWarn:
		return 1
	}
	return 2
}

// CheckFunc checks one dependency: nil is pass, an error wrapping ErrWarn
// is warn, any other error is fail. Its context ends at the check's
// timeout.
type CheckFunc func(ctx context.Context) error

// Check is a named check.
type Check struct {
	// Name is the key of the check in the report, in the format's
	// "component" or "component:measurement" form, such as "postgres" or
	// "queue:depth". Required and unique.
	Name string
	// Func runs the check. Required.
	Func CheckFunc
	// Timeout bounds one run. Default Options.Timeout.
	Timeout time.Duration
	// ComponentType is reported as componentType: "datastore",
	// "component", "system" or a name of your own. Default: omitted.
	ComponentType string
}

// Options configure a Checker.
type Options struct {
	// Timeout bounds each check that sets no Timeout of its own.
	// Default 2s.
	Timeout time.Duration
	// TTL is how long a check's result, pass or not, is reused before the
	// check runs again, so a burst of probes does not hammer a dependency.
	// Default 5s; negative: never reused (concurrent callers still share
	// one run).
	TTL time.Duration
	// Now is the clock of the cache and of the results' times.
	// Default time.Now.
	Now func() time.Time
	// Version, ReleaseID, ServiceID and Description are reported as the
	// format's version, releaseId, serviceId and description.
	// Default: omitted.
	Version, ReleaseID, ServiceID, Description string
}

// Report is a health response in the format of draft-inadarei-api-health-check.
type Report struct {
	// Status is the worst status of the checks; pass without checks.
	Status      Status `json:"status"`
	Version     string `json:"version,omitempty"`
	ReleaseID   string `json:"releaseId,omitempty"`
	ServiceID   string `json:"serviceId,omitempty"`
	Description string `json:"description,omitempty"`
	// Checks holds one result per check, by name, each in a one-element
	// list as the format has it.
	Checks map[string][]Result `json:"checks,omitempty"`
}

// Result is the outcome of one check.
type Result struct {
	Status        Status `json:"status"`
	ComponentType string `json:"componentType,omitempty"`
	// Time is when the check finished, in UTC; a cached result keeps the
	// time it was observed.
	Time time.Time `json:"time"`
	// Output is Err's text; empty on pass.
	Output string `json:"output,omitempty"`
	// Err is what the check returned, or the timeout or panic; nil on pass.
	Err error `json:"-"`
}

// Checker runs readiness checks and reports their health.
type Checker struct {
	opts   Options
	checks []*check
}

// New returns a Checker of the given checks. It refuses a check without a
// name or Func, with a negative Timeout, named like an earlier one, or
// whose name is not "component" or "component:measurement" (the
// health+json draft keys checks so, and forbids colons in either part).
func New(opts Options, checks ...Check) (*Checker, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.TTL == 0 {
		opts.TTL = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Checker{opts: opts}
	seen := make(map[string]bool, len(checks))
	for i, ch := range checks {
		switch {
		case ch.Name == "":
			return nil, fmt.Errorf("%w: checks[%d]: Name is empty", ErrInvalid, i)
		case !validCheckName(ch.Name):
			return nil, fmt.Errorf("%w: %q: Name must be \"component\" or \"component:measurement\", neither part empty nor holding a colon", ErrInvalid, ch.Name)
		case seen[ch.Name]:
			return nil, fmt.Errorf("%w: %q: Name is used twice", ErrInvalid, ch.Name)
		case ch.Func == nil:
			return nil, fmt.Errorf("%w: %q: Func is nil", ErrInvalid, ch.Name)
		case ch.Timeout < 0:
			return nil, fmt.Errorf("%w: %q: Timeout is negative", ErrInvalid, ch.Name)
		}
		seen[ch.Name] = true
		if ch.Timeout == 0 {
			ch.Timeout = opts.Timeout
		}
		c.checks = append(c.checks, &check{Check: ch, now: opts.Now, ttl: opts.TTL})
	}
	return c, nil
}

// Check runs the checks in parallel, or reuses their results younger
// than Options.TTL, and reports them. It returns within the longest check
// timeout even when a check ignores its context, and sooner when ctx ends
// (the checks left waiting fail with ctx's error).
func (c *Checker) Check(ctx context.Context) Report {
	results := make([]Result, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Go(func() { results[i] = ch.result(ctx) })
	}
	wg.Wait()
	rep := Report{
		Status:      StatusPass,
		Version:     c.opts.Version,
		ReleaseID:   c.opts.ReleaseID,
		ServiceID:   c.opts.ServiceID,
		Description: c.opts.Description,
		Checks:      make(map[string][]Result, len(c.checks)),
	}
	for i, ch := range c.checks {
		rep.Checks[ch.Name] = []Result{results[i]}
		if results[i].Status.worse(rep.Status) {
			rep.Status = results[i].Status
		}
	}
	return rep
}

// Handler serves readiness: the Report of Check as application/health+json,
// with 200 OK for pass and warn and 503 Service Unavailable for fail.
// Outputs are error texts: serve it where only operators and probes see it.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := c.Check(r.Context())
		code := http.StatusOK
		if rep.Status == StatusFail {
			code = http.StatusServiceUnavailable
		}
		writeReport(w, code, rep)
	})
}

// Liveness serves liveness: always 200 OK with {"status":"pass"}. It
// checks no dependency, so an orchestrator restarts the process only when
// it cannot answer at all, never because a database is down.
func Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, http.StatusOK, Report{Status: StatusPass})
	})
}

func writeReport(w http.ResponseWriter, code int, rep Report) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}

// check is a Check with its cached result and the run in progress.
type check struct {
	Check
	now func() time.Time
	ttl time.Duration

	mu      sync.Mutex
	last    Result    // the latest result
	expires time.Time // last is reused until then
	flight  *flight   // the run in progress, shared by concurrent callers
	busy    bool      // Func is running, perhaps past its timeout
}

// flight is one run of a check, shared by the callers that arrive
// while it is in progress.
type flight struct {
	done   chan struct{}
	result Result // set before done closes
}

// result returns the cached result, or joins the run in progress, or
// starts one. The run does not end with ctx: others may be waiting for it.
func (c *check) result(ctx context.Context) Result {
	c.mu.Lock()
	if c.now().Before(c.expires) {
		r := c.last
		c.mu.Unlock()
		return r
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		go c.run(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.result
	case <-ctx.Done():
		return c.resultOf(ctx.Err())
	}
}

func (c *check) run(ctx context.Context, f *flight) {
	r := c.resultOf(c.call(ctx))
	c.mu.Lock()
	c.last, c.expires, c.flight = r, c.now().Add(c.ttl), nil
	c.mu.Unlock()
	f.result = r
	close(f.done)
}

// call runs Func bounded by the timeout. Func runs in a goroutine of its
// own so that one ignoring its context cannot hold the caller past the
// deadline; until it returns, later calls fail at once instead of
// stacking up goroutines behind it.
func (c *check) call(ctx context.Context) error {
	c.mu.Lock()
	if c.busy {
		c.mu.Unlock()
		return fmt.Errorf("%w: an earlier run has not returned yet", ErrTimeout)
	}
	c.busy = true
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := errGoexit // unless Func returns or panics
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("%w: %v", ErrPanic, v)
			}
			c.mu.Lock()
			c.busy = false
			c.mu.Unlock()
			errc <- err
		}()
		err = c.Func(ctx)
	}()
	select {
	case err := <-errc:
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// %v, not %w: a late warning is still a timeout.
			return fmt.Errorf("%w after %s: %v", ErrTimeout, c.Timeout, err)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w after %s", ErrTimeout, c.Timeout)
	}
}

var errGoexit = fmt.Errorf("%w: it called runtime.Goexit", ErrPanic)

func (c *check) resultOf(err error) Result {
	r := Result{Status: StatusPass, ComponentType: c.ComponentType, Time: c.now().UTC(), Err: err}
	if err != nil {
		r.Status, r.Output = StatusFail, err.Error()
		if errors.Is(err, ErrWarn) {
			r.Status = StatusWarn
		}
	}
	return r
}

// validCheckName reports whether name is "component" or
// "component:measurement", with neither part empty.
func validCheckName(name string) bool {
	component, measurement, two := strings.Cut(name, ":")
	return component != "" && (!two || measurement != "" && !strings.Contains(measurement, ":"))
}
