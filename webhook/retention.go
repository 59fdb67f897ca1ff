package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retention bounds how long a queue keeps what it has finished with, so
// that its storage stays the same size under steady load however long
// it runs. The zero value is the default: succeeded deliveries and dead
// letters are kept 30 days, payloads as long as their messages.
//
// Retention works delivery by delivery. A finished delivery (succeeded,
// or dead) is deleted with its attempt log once it has been finished
// for its state's retention, counted from its last change (UpdatedAt:
// its last attempt); a message is deleted with its last delivery. A
// pending delivery is never deleted, whatever its age, nor its message.
// So a message whose delivery to one endpoint succeeded and to another
// died stays, with its payload, as long as its dead letter.
type Retention struct {
	// Finished is how long a succeeded delivery is kept after its last
	// attempt. Default 30 days (DefaultRetention); negative keeps them
	// for ever. Otherwise at least MinRetention.
	Finished time.Duration
	// Dead is how long a dead letter is kept after it died, for review
	// and retry (RetryDead, Recover): longer than Finished, say, to give
	// a tenant time to fix an endpoint. Its message keeps its payload
	// meanwhile, so a retry sends what was sent before. Default:
	// Finished; negative keeps them for ever. Otherwise at least
	// MinRetention.
	Dead time.Duration
	// Payload, when set, removes a message's payload earlier than the
	// message: once every delivery of it has succeeded, the last of
	// them Payload ago. The message's other fields stay, for history
	// and exports, and Message.PayloadExpunged reports the removal.
	// Messages with a pending delivery or a dead letter keep their
	// payload. Default 0 (and any negative value, or one at or beyond
	// Finished): the payload goes with the message. Otherwise at least
	// MinRetention.
	Payload time.Duration
	// Batch is the most deliveries, and the most payloads, that one
	// transaction removes, so that a sweep never holds the queue's
	// locks for long. Default DefaultExpireBatch; at most
	// MaxExpireBatch.
	Batch int
	// Every is how often RunRetention sweeps. Default 1 hour.
	Every time.Duration
	// Logger receives RunRetention's sweeps and failures. Default
	// slog.Default().
	Logger *slog.Logger
}

// Retention limits and defaults.
const (
	// DefaultRetention is how long finished deliveries are kept by
	// default: 30 days.
	DefaultRetention = 30 * 24 * time.Hour
	// MinRetention is the shortest retention allowed: an hour, well past
	// a worker's lease, so nothing is deleted while a worker may still
	// be recording it.
	MinRetention = time.Hour
	// DefaultExpireBatch is Retention.Batch's default.
	DefaultExpireBatch = 1000
	// MaxExpireBatch is the largest Retention.Batch.
	MaxExpireBatch = 5000
)

// Validate reports a field out of range, naming it.
func (r Retention) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"finished", r.Finished}, {"dead", r.Dead}, {"payload", r.Payload}} {
		if f.d > 0 && f.d < MinRetention {
			return fmt.Errorf("%w: retention: %s must be 0 (the default), negative (for ever) or at least %s", ErrInvalid, f.name, MinRetention)
		}
	}
	switch {
	case r.Batch < 0 || r.Batch > MaxExpireBatch:
		return fmt.Errorf("%w: retention: batch must be 0 (%d) to %d", ErrInvalid, DefaultExpireBatch, MaxExpireBatch)
	case r.Every < 0:
		return fmt.Errorf("%w: retention: every must not be negative", ErrInvalid)
	}
	return nil
}

// At resolves r at now, with its defaults, into what a queue expires.
func (r Retention) At(now time.Time) Expiry {
	finished := r.Finished
	if finished == 0 {
		finished = DefaultRetention
	}
	dead := r.Dead
	if dead == 0 {
		dead = finished
	}
	cutoff := func(d time.Duration) time.Time {
		if d < 0 {
			return time.Time{}
		}
		return now.Add(-d)
	}
	e := Expiry{Succeeded: cutoff(finished), Dead: cutoff(dead), Batch: r.Batch}
	if r.Payload > 0 && (finished < 0 || r.Payload < finished) {
		e.Payload = cutoff(r.Payload)
	}
	if e.Batch == 0 {
		e.Batch = DefaultExpireBatch
	}
	return e
}

// Expiry is a Retention resolved at one instant: what a
// RetentionQueue's Expire removes. A zero instant removes nothing.
type Expiry struct {
	// Succeeded and Dead: a delivery in that state whose last change
	// (UpdatedAt) is before the instant is deleted, with its attempts.
	Succeeded, Dead time.Time
	// Payload: a message whose deliveries have all succeeded, the last
	// of them before the instant, loses its payload.
	Payload time.Time
	// Batch is the most deliveries one Expire deletes, and the most
	// deliveries it reads to find payloads to remove: 1 to
	// MaxExpireBatch.
	Batch int
}

// Validate reports a batch out of range.
func (e Expiry) Validate() error {
	if e.Batch < 1 || e.Batch > MaxExpireBatch {
		return fmt.Errorf("%w: expiry batch must be 1 to %d", ErrInvalid, MaxExpireBatch)
	}
	return nil
}

// Expired reports whether a delivery in state, last changed at
// updated, is due for deletion.
func (e Expiry) Expired(state DeliveryState, updated time.Time) bool {
	var cutoff time.Time
	switch state {
	case StateSucceeded:
		cutoff = e.Succeeded
	case StateDead:
		cutoff = e.Dead
	default:
		return false
	}
	return updated.Before(cutoff)
}

// ExpireResult counts what a retention sweep removed.
type ExpireResult struct {
	Messages   int // messages deleted with their last delivery
	Deliveries int // finished deliveries deleted
	Attempts   int // attempt log entries of those deliveries
	Payloads   int // payloads removed from messages that stay
	// More reports that a call stopped at its batch limit: more may be
	// due, so call again.
	More bool
}

func (r *ExpireResult) add(o ExpireResult) {
	r.Messages += o.Messages
	r.Deliveries += o.Deliveries
	r.Attempts += o.Attempts
	r.Payloads += o.Payloads
}

// RetentionQueue is a Queue that deletes what it has finished with:
// Dispatcher.Expire and RunRetention use it. memstore and sqlstore
// implement it.
type RetentionQueue interface {
	// Expire deletes up to e.Batch expired deliveries with their
	// attempts, and each message whose last delivery that was, then
	// removes up to e.Batch payloads that e expires; each step is a
	// short transaction of its own. It never deletes a pending delivery. Calls from any number
	// of processes at once are safe: what one deletes, the others skip.
	Expire(ctx context.Context, e Expiry) (ExpireResult, error)
}

// PayloadExpunged reports whether retention removed the message's
// payload (Retention.Payload); the message's other fields are intact.
// A queue keeps such a message with an empty payload, which no message
// sent can have, since a payload must be valid JSON.
func (m *Message) PayloadExpunged() bool { return len(m.Payload) == 0 }

// Expire removes what r lets go from the queue, a batch at a time, until
// nothing more is due at the time it began, and returns the totals.
// Deleted deliveries and messages are gone from Deliveries, Attempts and
// ExportSubject. The queue must implement RetentionQueue.
func (d *Dispatcher) Expire(ctx context.Context, r Retention) (ExpireResult, error) {
	rq, ok := d.queue.(RetentionQueue)
	if !ok {
		return ExpireResult{}, fmt.Errorf("expire: %w", ErrUnsupported)
	}
	if err := r.Validate(); err != nil {
		return ExpireResult{}, err
	}
	e := r.At(d.opts.Now().UTC())
	var total ExpireResult
	for {
		res, err := rq.Expire(ctx, e)
		total.add(res)
		if err != nil {
			return total, fmt.Errorf("expire: %w", err)
		}
		if !res.More {
			return total, nil
		}
	}
}

// RunRetention runs Expire at once and then every r.Every until ctx
// ends, logging what each sweep removed and any failure (the next sweep
// tries again), and returns nil. Run it beside Run, in one process or
// in several: sweeps that meet take turns or skip each other's work.
// It returns at once an error for an invalid r, and ErrUnsupported when
// the queue is not a RetentionQueue.
func (d *Dispatcher) RunRetention(ctx context.Context, r Retention) error {
	if _, ok := d.queue.(RetentionQueue); !ok {
		return fmt.Errorf("run retention: %w", ErrUnsupported)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	every, logger := r.Every, r.Logger
	if every == 0 {
		every = time.Hour
	}
	if logger == nil {
		logger = slog.Default()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		res, err := d.Expire(ctx, r)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			logger.ErrorContext(ctx, "webhook retention sweep failed", slog.String("error", err.Error()))
		case res != ExpireResult{}:
			logger.InfoContext(ctx, "webhook retention sweep", slog.Int("messages", res.Messages), slog.Int("deliveries", res.Deliveries),
				slog.Int("attempts", res.Attempts), slog.Int("payloads", res.Payloads))
		}
		timer.Reset(every)
	}
}
