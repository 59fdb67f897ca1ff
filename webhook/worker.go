package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// WorkerOptions configure Run. The zero value is a sensible default.
type WorkerOptions struct {
	// Concurrency bounds deliveries in flight. Default 16.
	Concurrency int
	// PerEndpoint bounds one worker's deliveries in flight to one
	// endpoint, so one slow endpoint cannot take every slot. Default 4.
	PerEndpoint int
	// Lease is how long a claimed delivery stays with this worker; if the
	// worker dies, another takes it after the lease. Default 1 minute.
	Lease time.Duration
	// Poll is how often an idle worker looks for due deliveries. Default
	// 1s. Send (and Wake) in the same process wake an idle worker at once.
	Poll time.Duration
	// MaxAttempts before a delivery is dead. Default 10.
	MaxAttempts int
	// RetryDelay returns the wait after the given failed attempt (1 for the
	// first). Default: exponential with jitter from 5 seconds, times 4 each
	// time, at most a day between attempts: ten attempts span about three
	// days, as the Standard Webhooks specification recommends.
	RetryDelay func(attempt int) time.Duration
	// MinThrottle is the least wait after a 429, a 502, a 503, a 504 or a
	// timeout. Default 1 minute.
	MinThrottle time.Duration
	// MaxRetryAfter bounds how long a Retry-After header can postpone a
	// delivery. Default 24 hours.
	MaxRetryAfter time.Duration
	// Client makes the requests. Default NewDeliveryClient with its
	// defaults: SSRF protection on.
	Client *http.Client
	// MaxResponseBody is how much of a response the attempt log keeps.
	// Default 4 KiB.
	MaxResponseBody int64
	// BreakerFailures consecutive failures open an endpoint's circuit
	// breaker. Default 5.
	BreakerFailures int
	// BreakerOpen is how long a breaker first stays open. Default 30s.
	BreakerOpen time.Duration
	// BreakerMaxOpen caps the open period, which doubles after each
	// failed probe. Default 10 minutes.
	BreakerMaxOpen time.Duration
	// BreakerProbes is how many deliveries a half-open breaker lets
	// through, and how many must succeed to close it. Default 2.
	BreakerProbes int
	// DisableAfter disables an endpoint that has failed without a single
	// success for this long. Default 5 days.
	DisableAfter time.Duration
	// OnEvent, when set, is told of the operational events of delivery
	// (an endpoint disabled, failing or recovered, a delivery exhausted),
	// for alerts or the tenant's dashboard. DispatcherOptions.OnEvent and
	// OperatorTenant hear of them too, with the endpoint changes.
	OnEvent func(Event)
	// Logger records store failures. Default slog.Default().
	Logger *slog.Logger
	// RateLimiter, when set, spaces each rate-limited endpoint's
	// deliveries across every process that shares it (sqlstore's, for a
	// shared queue); a delivery whose slot is more than half a Lease away
	// is postponed to it, without spending an attempt. Default: each
	// process spaces its own deliveries, so N processes may deliver N
	// times an endpoint's limit. If the shared limiter fails, the process
	// falls back to its own spacing and logs a warning.
	RateLimiter RateLimiter

	// complete records an outcome: the queue's Complete, or the
	// background completer when the queue is a BatchQueue.
	complete func(context.Context, *Delivery, Attempt) error
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 4
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.RetryDelay == nil {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.MinThrottle <= 0 {
		o.MinThrottle = time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 24 * time.Hour
	}
	if o.Client == nil {
		o.Client = NewDeliveryClient(DeliveryClientOptions{})
	}
	if o.MaxResponseBody <= 0 {
		o.MaxResponseBody = 4 << 10
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = 30 * time.Second
	}
	if o.BreakerMaxOpen <= 0 {
		o.BreakerMaxOpen = 10 * time.Minute
	}
	if o.BreakerProbes <= 0 {
		o.BreakerProbes = 2
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = 5 * 24 * time.Hour
	}
	if o.OnEvent == nil {
		o.OnEvent = func(Event) {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// DefaultRetryDelay is the default schedule: 5s, 20s, 80s, ~5m, ~21m,
// ~85m, ~6h, ~23h, then a day, each with ±25% jitter.
func DefaultRetryDelay(attempt int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 5 * time.Second
	b.Multiplier = 4
	b.RandomizationFactor = 0.25
	b.MaxInterval = 24 * time.Hour
	b.MaxElapsedTime = 0
	b.Reset()
	var d time.Duration
	for range max(attempt, 1) {
		d = b.NextBackOff()
	}
	return d
}

// Run delivers due messages until ctx ends, then waits for the deliveries
// in flight (each bounded by its request timeout) and returns. A fixed
// pool of Concurrency goroutines makes the attempts; Run claims work
// ahead of them, in the background, so a goroutine that comes free
// finds its next delivery waiting rather than waiting for a claim.
func (d *Dispatcher) Run(ctx context.Context, opts WorkerOptions) error {
	opts = opts.withDefaults()
	work := make(chan *Delivery)
	// done carries the endpoint of each attempt that ended, so Run keeps
	// the count of free goroutines and of attempts in flight per
	// endpoint and, with work held back for a busy endpoint, hands it
	// out as soon as an attempt ends rather than at the next poll. Its
	// buffer holds one per goroutine, so none blocks when Run stops.
	done := make(chan string, opts.Concurrency)
	var wg sync.WaitGroup
	// Attempts finish even when Run is stopping: the lease covers them,
	// and abandoning one would only repeat it.
	attemptCtx := context.WithoutCancel(ctx)
	if wq, ok := d.queue.(WakeQueue); ok {
		listening := make(chan struct{})
		go func() { defer close(listening); d.listen(ctx, wq, opts.Logger) }()
		defer func() { <-listening }() // Run returns once ctx has ended, which ends Listen
	}
	opts.complete = func(ctx context.Context, del *Delivery, a Attempt) error {
		err := d.queue.Complete(ctx, del, a)
		if err == nil {
			d.subscribers.publish(del, a)
		}
		return err
	}
	if bq, ok := d.queue.(BatchQueue); ok {
		complete, flush := completer(attemptCtx, bq, 4*opts.Concurrency, &d.subscribers, d.Wake, opts.Logger)
		defer flush() // after the workers below have finished
		opts.complete = complete
	}
	for range opts.Concurrency {
		wg.Go(func() {
			for del := range work {
				d.deliver(attemptCtx, del, opts)
				done <- del.EndpointID
			}
		})
	}
	defer func() { close(work); wg.Wait() }()
	free := opts.Concurrency

	// backlog holds claimed deliveries not yet handed out, up to twice
	// Concurrency of them: claiming a batch at a time keeps the queue's
	// cost per delivery low, and claiming while every goroutine is busy
	// keeps the next deliveries ready. A delivery waits there while its
	// endpoint has PerEndpoint attempts in flight, and is dropped once
	// half its lease has passed (the lease then runs out and a worker
	// claims it again). On stop, leases simply run out.
	backlogCap, claimPerEndpoint := 2*opts.Concurrency, 2*opts.PerEndpoint
	type claimed struct {
		del *Delivery
		at  time.Time
	}
	var backlog []claimed
	inflight := map[string]int{}
	pick := func(now time.Time) int {
		kept := backlog[:0]
		for _, c := range backlog {
			if now.Sub(c.at) < opts.Lease/2 {
				kept = append(kept, c)
			}
		}
		backlog = kept
		for i, c := range backlog {
			if inflight[c.del.EndpointID] < opts.PerEndpoint {
				return i
			}
		}
		return -1
	}
	ended := func(ep string) {
		free++
		if inflight[ep]--; inflight[ep] <= 0 {
			delete(inflight, ep)
		}
	}

	// One claim at a time runs in the background; dry records that the
	// last one found nothing, so Run waits for a wake-up, a finished
	// attempt or the poll before it claims again. news records such an
	// event while a claim runs: that claim may have read the queue
	// before the new work committed, so finding nothing then does not
	// make Run dry.
	type claimResult struct {
		batch []*Delivery
		at    time.Time
	}
	claims := make(chan claimResult, 1)
	claiming, dry, news := false, false, false
	notice := func() { dry, news = false, true }
	var claimer sync.WaitGroup
	defer claimer.Wait()
	timer := time.NewTimer(opts.Poll)
	defer timer.Stop()
	for {
		now := d.opts.Now().UTC()
		for free > 0 {
			i := pick(now)
			if i < 0 {
				break
			}
			del := backlog[i].del
			backlog = append(backlog[:i], backlog[i+1:]...)
			inflight[del.EndpointID]++
			free--
			work <- del
		}
		// Claim when the backlog is half spent, in batches big enough to
		// be cheap, or at once when a worker is free and nothing in the
		// backlog may go to it (its endpoints are busy). A claim may take
		// an endpoint's next PerEndpoint deliveries beyond those it can
		// have in flight, so they are ready when its attempts end.
		if !claiming && !dry && len(backlog) < backlogCap && (len(backlog) <= backlogCap/2 || free > 0) {
			claiming, news = true, false
			limit := backlogCap - len(backlog)
			claimer.Go(func() {
				batch, err := d.queue.Claim(ctx, now, opts.Lease, limit, claimPerEndpoint)
				if err != nil && ctx.Err() == nil {
					opts.Logger.ErrorContext(ctx, "webhook claim failed", slog.String("error", err.Error()))
				}
				claims <- claimResult{batch, now}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case ep := <-done:
			ended(ep)
			notice() // an ordered endpoint's next message may be due now
		case r := <-claims:
			claiming = false
			for _, del := range r.batch {
				backlog = append(backlog, claimed{del, r.at})
			}
			if len(r.batch) == 0 && !news {
				dry = true
				timer.Reset(opts.Poll) // since Go 1.23, Reset drops a pending tick
			}
		case <-timer.C:
			notice()
			timer.Reset(opts.Poll)
		case <-d.wake:
			notice()
		}
	}
}

// listen wakes Run whenever q says that deliveries were queued, by any
// process, listening again after a growing pause when it fails; until
// it listens again, Run polls.
func (d *Dispatcher) listen(ctx context.Context, q WakeQueue, logger *slog.Logger) {
	pause := time.Second
	for {
		err := q.Listen(ctx, d.Wake)
		if err == nil || errors.Is(err, ErrUnsupported) || ctx.Err() != nil {
			return
		}
		logger.WarnContext(ctx, "webhook: listening for new deliveries failed; polling until it listens again", slog.String("error", err.Error()))
		if sleep(ctx, pause) != nil {
			return
		}
		pause = min(2*pause, time.Minute)
	}
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, del *Delivery, opts WorkerOptions) {
	now := d.opts.Now().UTC()
	attempt := Attempt{DeliveryID: del.ID, At: now}
	e, err := d.endpoint(ctx, del)
	switch {
	case errors.Is(err, ErrNotFound):
		d.finish(ctx, del, attempt, StateDead, time.Time{}, "endpoint deleted", opts)
		return
	case err != nil:
		opts.Logger.ErrorContext(ctx, "webhook endpoint lookup failed", slog.String("error", err.Error()))
		return // the lease runs out and another attempt follows
	case e.DisabledReason != "":
		d.finish(ctx, del, attempt, StateDead, time.Time{}, "endpoint disabled: "+e.DisabledReason, opts)
		return
	}
	health := d.health.of(e)
	if ok, retryAt := health.admit(now, opts.BreakerProbes); !ok {
		d.postpone(ctx, del, retryAt, opts) // the breaker is open: no attempt spent
		return
	}
	if e.RateLimit > 0 {
		if retryAt, err := d.pace(ctx, e, del, health, now, opts); err != nil || !retryAt.IsZero() {
			health.release() // not attempted
			if err == nil {
				d.postpone(ctx, del, retryAt, opts)
			}
			return
		}
		now = d.opts.Now().UTC()
		attempt.At = now
	}
	spanCtx, span := d.tel.startAttempt(ctx, del, e)
	status, retryAfter, timedOut, err := d.post(spanCtx, e, del, &attempt, opts)
	attempt.Status = status
	success := err == nil && (status == 0 || status >= 200 && status < 300) // 0: a broker's ack
	d.tel.endAttempt(ctx, span, status, attempt.Latency, outcomeOf(success, status, del.Attempts+1 >= opts.MaxAttempts), err)
	if health.record(success, now, opts) {
		d.tel.opened.Add(ctx, 1)
	}
	d.trackFailing(ctx, e, success, now, opts)
	switch {
	case success:
		d.finish(ctx, del, attempt, StateSucceeded, time.Time{}, "", opts)
		return
	case status == http.StatusGone:
		if disabled, err := d.disable(ctx, e.TenantID, e.ID, "410 Gone"); err != nil {
			opts.Logger.ErrorContext(ctx, "webhook endpoint disable failed", slog.String("error", err.Error()))
		} else if disabled != nil {
			d.deliveryEvent(ctx, opts, Event{Type: EventEndpointDisabled, TenantID: e.TenantID, EndpointID: e.ID, Reason: "410 Gone", At: now})
		}
		d.finish(ctx, del, attempt, StateDead, time.Time{}, "410 Gone: endpoint disabled", opts)
		return
	}
	reason := fmt.Sprintf("HTTP %d", status)
	if err != nil {
		reason = err.Error()
	}
	if del.Attempts+1 >= opts.MaxAttempts {
		d.finish(ctx, del, attempt, StateDead, time.Time{}, reason, opts)
		d.deliveryEvent(ctx, opts, Event{Type: EventAttemptExhausted, TenantID: e.TenantID, EndpointID: e.ID,
			MessageID: del.Message.ID, DeliveryID: del.ID, Reason: reason, At: now})
		return
	}
	wait := opts.RetryDelay(del.Attempts + 1)
	if timedOut || throttled(status) {
		wait = max(wait, opts.MinThrottle)
	}
	if retryAfter > 0 {
		wait = max(wait, min(retryAfter, opts.MaxRetryAfter))
	}
	d.finish(ctx, del, attempt, StatePending, now.Add(wait), reason, opts)
}

// pace waits for the endpoint's next rate-limited slot, from the shared
// RateLimiter when there is one, else from the process's own limiter.
// A slot too far off for the delivery to be posted within its lease
// (more than half a lease away, or than what is left of the lease less
// the request's time limit) is not taken: pace returns when to try
// again instead. It returns an error when ctx ends first.
func (d *Dispatcher) pace(ctx context.Context, e *Endpoint, del *Delivery, health *endpointHealth, now time.Time, opts WorkerOptions) (time.Time, error) {
	maxWait := max(min(opts.Lease/2, del.LeaseUntil.Sub(now)-requestTimeout(opts.Client)), 0)
	if opts.RateLimiter != nil {
		wait, ok, err := opts.RateLimiter.Reserve(ctx, e.ID, e.RateLimit, now, maxWait)
		switch {
		case err == nil && !ok:
			return now.Add(wait), nil
		case err == nil:
			return time.Time{}, sleep(ctx, wait)
		}
		opts.Logger.WarnContext(ctx, "webhook shared rate limiter failed; spacing this process's deliveries only",
			slog.String("endpoint.id", e.ID), slog.String("error", err.Error()))
	}
	if limiter := health.rateLimiter(); limiter != nil {
		r := limiter.Reserve()
		if wait := r.Delay(); wait > maxWait {
			r.Cancel()
			return now.Add(wait), nil
		} else if err := sleep(ctx, wait); err != nil {
			r.Cancel()
			return time.Time{}, err
		}
	}
	return time.Time{}, nil
}

// postpone moves a delivery to later without spending an attempt.

// sleep waits for d, or returns ctx's error if it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Dispatcher) postpone(ctx context.Context, del *Delivery, until time.Time, opts WorkerOptions) {
	del.NextAt = until
	if err := opts.complete(ctx, del, Attempt{}); err != nil {
		opts.Logger.WarnContext(ctx, "webhook delivery not postponed", slog.String("delivery.id", del.ID), slog.String("error", err.Error()))
	}
}

// trackFailing keeps the endpoint's FailingSince and disables an endpoint
// that has failed for DisableAfter. It writes only on transitions.
func (d *Dispatcher) trackFailing(ctx context.Context, e *Endpoint, success bool, now time.Time, opts WorkerOptions) {
	switch {
	case success && e.FailingSince.IsZero(), !success && !e.FailingSince.IsZero() && now.Sub(e.FailingSince) < opts.DisableAfter:
		return
	case success:
		e.FailingSince = time.Time{}
	case e.FailingSince.IsZero():
		e.FailingSince = now
	default:
		reason := fmt.Sprintf("failing since %s", e.FailingSince.Format(time.RFC3339))
		disabled, err := d.disable(ctx, e.TenantID, e.ID, reason)
		if err != nil {
			opts.Logger.ErrorContext(ctx, "webhook endpoint disable failed", slog.String("error", err.Error()))
		} else if disabled != nil {
			d.deliveryEvent(ctx, opts, Event{Type: EventEndpointDisabled, TenantID: e.TenantID, EndpointID: e.ID, Reason: reason, At: now})
		}
		return
	}
	e.UpdatedAt = now
	err := d.endpoints.UpdateEndpoint(ctx, e)
	switch {
	case errors.Is(err, ErrConflict): // another worker wrote the same turn first, and tells of it
	case err != nil:
		opts.Logger.ErrorContext(ctx, "webhook endpoint update failed", slog.String("error", err.Error()))
	case success:
		d.deliveryEvent(ctx, opts, Event{Type: EventEndpointRecovered, TenantID: e.TenantID, EndpointID: e.ID, At: now})
	default:
		d.deliveryEvent(ctx, opts, Event{Type: EventEndpointFailing, TenantID: e.TenantID, EndpointID: e.ID, At: now})
	}
}

// deliveryEvent tells opts.OnEvent of an operational event of delivery,
// and emits it as the Dispatcher's endpoint changes are.
func (d *Dispatcher) deliveryEvent(ctx context.Context, opts WorkerOptions, ev Event) {
	opts.OnEvent(ev)
	d.emit(ctx, ev)
}

func (d *Dispatcher) finish(ctx context.Context, del *Delivery, a Attempt, state DeliveryState, next time.Time, reason string, opts WorkerOptions) {
	if a.Error == "" && state != StateSucceeded {
		a.Error = reason
	}
	del.State, del.NextAt, del.LastError, del.Attempts = state, next, reason, del.Attempts+1
	if err := opts.complete(ctx, del, a); err != nil {
		opts.Logger.WarnContext(ctx, "webhook delivery not recorded", slog.String("delivery.id", del.ID), slog.String("error", err.Error()))
	}
}

// completer records completions in the background, as River's
// completer does: a worker hands its outcome over and is free at once
// for the next delivery, and one goroutine writes every outcome that
// arrived while the previous batch was being written in one
// CompleteBatch, so a busy SQL queue pays one statement and one commit
// per batch instead of per delivery, and an idle one waits for nothing.
// At most buffer outcomes wait: beyond that, workers wait for the
// writer. An outcome lost with the process (a crash before its batch
// was written) leaves its delivery leased: the lease runs out and the
// delivery is attempted again, so delivery stays at least once.
func completer(ctx context.Context, q BatchQueue, buffer int, subs *subscribers, wake func(), logger *slog.Logger) (complete func(context.Context, *Delivery, Attempt) error, flush func()) {
	pending := make(chan Completion, buffer)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		batch := make([]Completion, 0, maxCompletionBatch)
		for first := range pending {
			batch = append(batch[:0], first)
		fill:
			for len(batch) < maxCompletionBatch {
				select {
				case c, ok := <-pending:
					if !ok {
						break fill
					}
					batch = append(batch, c)
				default:
					break fill
				}
			}
			for i, err := range q.CompleteBatch(ctx, batch) {
				if err != nil {
					logger.WarnContext(ctx, "webhook delivery not recorded", slog.String("delivery.id", batch[i].Delivery.ID), slog.String("error", err.Error()))
					continue
				}
				subs.publish(batch[i].Delivery, batch[i].Attempt)
			}
			wake() // a finished delivery may have unblocked the next one to an ordered endpoint
		}
	}()
	complete = func(_ context.Context, d *Delivery, a Attempt) error {
		pending <- Completion{Delivery: d, Attempt: a}
		return nil
	}
	return complete, func() { close(pending); <-finished }
}

// maxCompletionBatch bounds how many outcomes one CompleteBatch writes.
const maxCompletionBatch = 256
