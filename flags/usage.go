package flags

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// UsageRecord is how often a flag served a variant on one day (UTC),
// and when it last did.
type UsageRecord struct {
	Flag        string
	Variant     string // "" when the caller's default was served
	Day         time.Time
	Evaluations int64
	Last        time.Time
}

// UsageStore keeps usage records: flags/sqlstore's Store, shared by
// every replica.
type UsageStore interface {
	// AddUsage adds the records' evaluations to those stored for the
	// same flag, variant and day, keeping the latest Last.
	AddUsage(ctx context.Context, records []UsageRecord) error
	// Usage returns the records of the days from since's on.
	Usage(ctx context.Context, since time.Time) ([]UsageRecord, error)
}

// Usage counts evaluations per flag and variant in memory and adds them
// to a UsageStore on Flush; run Flush periodically (Run) and once at
// shutdown. Counts not yet flushed are per process and lost in a crash:
// usage is for reports, not for billing. As an OpenFeature hook it
// counts every evaluation through the Provider; code that evaluates
// through an Evaluator directly calls Record.
type Usage struct {
	store UsageStore
	now   func() time.Time

	mu     sync.Mutex
	counts map[usageKey]*UsageRecord
	openfeature.UnimplementedHook
}

type usageKey struct {
	flag, variant string
	day           int64
}

// NewUsage counts into store, on the clock now (default time.Now).
func NewUsage(store UsageStore, now func() time.Time) *Usage {
	if now == nil {
		now = time.Now
	}
	return &Usage{store: store, now: now, counts: map[usageKey]*UsageRecord{}}
}

// Record counts one evaluation of flag that served variant.
func (u *Usage) Record(flag, variant string) {
	now := u.now().UTC()
	day := now.Truncate(24 * time.Hour)
	k := usageKey{flag, variant, day.Unix()}
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.counts[k]
	if r == nil {
		r = &UsageRecord{Flag: flag, Variant: variant, Day: day}
		u.counts[k] = r
	}
	r.Evaluations++
	r.Last = now
}

// After implements openfeature.Hook: each evaluation is counted.
func (u *Usage) After(_ context.Context, hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) error {
	u.Record(hc.FlagKey(), d.Variant)
	return nil
}

// Flush adds the counts to the store. Counts it could not add are kept
// for the next Flush.
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	pending := u.counts
	u.counts = map[usageKey]*UsageRecord{}
	u.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	records := make([]UsageRecord, 0, len(pending))
	for _, r := range pending {
		records = append(records, *r)
	}
	if err := u.store.AddUsage(ctx, records); err != nil {
		u.mu.Lock()
		for k, r := range pending {
			if cur := u.counts[k]; cur != nil {
				cur.Evaluations += r.Evaluations
				cur.Last = maxTime(cur.Last, r.Last)
			} else {
				u.counts[k] = r
			}
		}
		u.mu.Unlock()
		return fmt.Errorf("flags: flush usage: %w", err)
	}
	return nil
}

// Run flushes every interval until ctx ends, then once more.
func (u *Usage) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return u.Flush(context.WithoutCancel(ctx))
		case <-t.C:
			_ = u.Flush(ctx) // kept for the next one
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Stale flag kinds.
const (
	StaleUnused         = "unused"          // evaluated once, but not in the period
	StaleNeverEvaluated = "never-evaluated" // no evaluation recorded at all
	StaleRolledOut      = "rolled-out"      // one variant served to every evaluation in the period
)

// StaleFlag is a flag a report finds stale: a candidate for removal
// from the code and the definitions.
type StaleFlag struct {
	Flag    string    `json:"flag"`
	Kind    string    `json:"kind"`              // StaleUnused, StaleNeverEvaluated or StaleRolledOut
	Variant string    `json:"variant,omitempty"` // the one variant served (StaleRolledOut)
	Last    time.Time `json:"last,omitempty"`    // the last evaluation, if any was recorded
	Detail  string    `json:"detail"`
}

// StaleOptions configure StaleFlags.
type StaleOptions struct {
	// Now is when the report is made; the period ends then.
	Now time.Time
	// Period is how long a flag must have been unused, or served one
	// variant, to be stale. Default 30 days.
	Period time.Duration
	// RecordedFrom is when usage began to be recorded (the earliest
	// record's day, UsageStart of flags/sqlstore). Until it is a Period
	// ago the report can tell nothing and is empty: a recorder started
	// yesterday does not make every flag stale.
	RecordedFrom time.Time
}

// StaleFlags reports, of the flags in defs, those not evaluated for the
// period before now (unused, or never evaluated at all), and those that
// served one variant to every evaluation in the period (fully rolled
// out, or killed), from the usage records of the period.
func StaleFlags(defs Definitions, usage []UsageRecord, opts StaleOptions) []StaleFlag {
	if opts.Period <= 0 {
		opts.Period = 30 * 24 * time.Hour
	}
	start := opts.Now.Add(-opts.Period)
	if opts.RecordedFrom.IsZero() || opts.RecordedFrom.After(start) {
		return nil
	}
	type seen struct {
		last     time.Time
		variants map[string]bool
	}
	byFlag := map[string]*seen{}
	for _, r := range usage {
		s := byFlag[r.Flag]
		if s == nil {
			s = &seen{variants: map[string]bool{}}
			byFlag[r.Flag] = s
		}
		s.last = maxTime(s.last, r.Last)
		if r.Day.Add(24 * time.Hour).After(start) { // a day that overlaps the period
			s.variants[r.Variant] = true
		}
	}
	since := start.UTC().Format(time.DateOnly)
	var out []StaleFlag
	for _, key := range slices.Sorted(maps.Keys(defs.Flags)) {
		s := byFlag[key]
		switch {
		case s == nil:
			out = append(out, StaleFlag{Flag: key, Kind: StaleNeverEvaluated, Detail: "no evaluation recorded since " + since})
		case s.last.Before(start):
			out = append(out, StaleFlag{Flag: key, Kind: StaleUnused, Last: s.last, Detail: "last evaluated " + s.last.UTC().Format(time.DateOnly)})
		case len(s.variants) == 1:
			variant := slices.Collect(maps.Keys(s.variants))[0]
			detail := fmt.Sprintf("served only %q since %s", variant, since)
			if variant == "" {
				detail = "served only the callers' default since " + since
			}
			out = append(out, StaleFlag{Flag: key, Kind: StaleRolledOut, Variant: variant, Last: s.last, Detail: detail})
		}
	}
	return out
}
