package audit

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Options configure a Trail.
type Options struct {
	// Now is the clock that stamps records and checkpoints. Default
	// time.Now. Times are kept in UTC to the microsecond.
	Now func() time.Time
	// CheckpointKey, when set, is the HMAC-SHA256 key that signs
	// checkpoints, and Verify then refuses any checkpoint whose signature
	// does not verify under it (ErrBadSignature), so that only a holder
	// of the key can make a checkpoint Verify trusts. At least 16 bytes;
	// use 32 random bytes kept apart from the store. Default: none;
	// checkpoints are unsigned and must be kept where the store's users
	// cannot change them.
	CheckpointKey []byte
	// PageSize is how many records Verify and Records read per
	// Store.List call, which bounds their memory. Default 500.
	PageSize int
	// MaxAttempts bounds how often Append tries to add a record when
	// other appenders keep extending the chain first; after that many
	// lost races it returns ErrConflict. Default 1000.
	MaxAttempts int
}

// Trail appends to and verifies the tenants' audit trails in a Store. It
// is safe for concurrent use, and several Trails (in several processes)
// may share one Store.
type Trail struct {
	store Store
	opts  Options
}

// New returns a Trail over store.
func New(store Store, opts Options) (*Trail, error) {
	if store == nil {
		return nil, invalid("store: must not be nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if n := len(opts.CheckpointKey); n > 0 && n < 16 {
		return nil, invalid("Options.CheckpointKey: must be at least 16 bytes, is %d", n)
	}
	opts.CheckpointKey = slices.Clone(opts.CheckpointKey)
	switch {
	case opts.PageSize < 0:
		return nil, invalid("Options.PageSize: must not be negative, is %d", opts.PageSize)
	case opts.PageSize == 0:
		opts.PageSize = 500
	}
	switch {
	case opts.MaxAttempts < 0:
		return nil, invalid("Options.MaxAttempts: must not be negative, is %d", opts.MaxAttempts)
	case opts.MaxAttempts == 0:
		opts.MaxAttempts = 1000
	}
	return &Trail{store: store, opts: opts}, nil
}

// Append adds r to the end of the tenant's trail and returns it as
// stored: with TenantID, Seq (one more than the last record's), Time
// (from Options.Now), PrevHash (the last record's Hash, or ZeroHash) and
// Hash filled in, and its times in UTC to the microsecond. Values the
// caller gives for Seq, Time, PrevHash and Hash are ignored; a TenantID
// other than tenantID is ErrInvalid.
//
// When another appender extends the chain first, Append reads the new
// end and tries again, pausing briefly after the first retries, so
// concurrent appenders never fork the chain.
func (t *Trail) Append(ctx context.Context, tenantID string, r Record) (Record, error) {
	if err := text("tenantID", tenantID, maxTenant, true); err != nil {
		return Record{}, err
	}
	if r.TenantID != "" && r.TenantID != tenantID {
		return Record{}, invalid("TenantID: %q differs from tenantID %q", r.TenantID, tenantID)
	}
	r = r.Clone()
	r.TenantID = tenantID
	if q := r.Request; q != nil {
		q.ReceivedAt, q.RespondedAt = normalize(q.ReceivedAt), normalize(q.RespondedAt)
	}
	if err := r.check(); err != nil {
		return Record{}, err
	}
	for attempt := 1; ; attempt++ {
		last, err := t.store.Last(ctx, tenantID)
		switch {
		case errors.Is(err, ErrNotFound):
			last = Record{Hash: ZeroHash}
		case err != nil:
			return Record{}, fmt.Errorf("audit: append to tenant %s: %w", tenantID, err)
		}
		r.Seq, r.PrevHash = last.Seq+1, last.Hash
		r.Time = normalize(t.opts.Now())
		r.Hash = r.ComputeHash()
		err = t.store.Append(ctx, r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= t.opts.MaxAttempts {
			return Record{}, fmt.Errorf("audit: append to tenant %s after %d attempts: %w", tenantID, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return Record{}, fmt.Errorf("audit: append to tenant %s: %w", tenantID, err)
		}
	}
}

// pause waits before retry number attempt: not at all for the first,
// then a random time up to 250µs per attempt, at most 5ms, so that
// appenders that keep colliding spread out.
func pause(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return ctx.Err()
	}
	timer := time.NewTimer(rand.N(time.Duration(min(attempt, 20)) * 250 * time.Microsecond))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Records returns the tenant's records with Seq greater than afterSeq,
// in Seq order, read Options.PageSize at a time. Iteration stops after
// the first error it yields.
func (t *Trail) Records(ctx context.Context, tenantID string, afterSeq uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			page, err := t.store.List(ctx, tenantID, afterSeq, t.opts.PageSize)
			if err != nil {
				yield(Record{}, fmt.Errorf("audit: list tenant %s after %d: %w", tenantID, afterSeq, err))
				return
			}
			for _, r := range page {
				if r.Seq <= afterSeq { // a store that ignores afterSeq would loop forever
					yield(Record{}, fmt.Errorf("audit: list tenant %s after %d: the store returned record %d", tenantID, afterSeq, r.Seq))
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < t.opts.PageSize {
				return
			}
			afterSeq = page[len(page)-1].Seq
		}
	}
}

// Checkpoint is the end of a tenant's chain at some moment: its last
// sequence number and hash. Store checkpoints apart from the trail (or
// publish them, or sign them with Options.CheckpointKey): Verify given a
// checkpoint detects a chain that no longer reaches it or has been
// rewritten up to it, which the chain alone cannot show.
type Checkpoint struct {
	TenantID string `json:"tenant_id"`
	// Seq and Hash are those of the tenant's last record; 0 and ZeroHash
	// for an empty trail.
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// Time is when the checkpoint was taken.
	Time time.Time `json:"time"`
	// Signature is the HMAC-SHA256 of the checkpoint under
	// Options.CheckpointKey, in lowercase hex; empty without a key.
	Signature string `json:"signature,omitempty"`
}

// checkpointDomain starts the signed message of every checkpoint.
const checkpointDomain = "saaskit.gdpr.audit.checkpoint.v1"

// sign returns the signature of cp under key.
func sign(key []byte, cp Checkpoint) string {
	m := hmac.New(sha256.New, key)
	e := encoder{h: m}
	e.field(checkpointDomain)
	e.field(cp.TenantID)
	e.field(strconv.FormatUint(cp.Seq, 10))
	e.field(cp.Hash)
	e.field(timeText(cp.Time))
	return hex.EncodeToString(m.Sum(nil))
}

// Checkpoint returns the current end of the tenant's chain, signed when
// Options.CheckpointKey is set. It does not verify the chain: Verify
// first to vouch for what the checkpoint covers.
func (t *Trail) Checkpoint(ctx context.Context, tenantID string) (Checkpoint, error) {
	if err := text("tenantID", tenantID, maxTenant, true); err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{TenantID: tenantID, Hash: ZeroHash, Time: normalize(t.opts.Now())}
	last, err := t.store.Last(ctx, tenantID)
	switch {
	case err == nil:
		cp.Seq, cp.Hash = last.Seq, last.Hash
	case !errors.Is(err, ErrNotFound):
		return Checkpoint{}, fmt.Errorf("audit: checkpoint tenant %s: %w", tenantID, err)
	}
	if len(t.opts.CheckpointKey) > 0 {
		cp.Signature = sign(t.opts.CheckpointKey, cp)
	}
	return cp, nil
}

// Problem names how a chain is broken.
type Problem string

// Problems Verify reports.
const (
	// Modified: a record's content no longer matches its hash.
	Modified Problem = "modified"
	// Deleted: a sequence number is missing (a record was removed).
	Deleted Problem = "deleted"
	// Reordered: a record does not link to the one before it (its
	// PrevHash is not that record's Hash, or its Seq repeats or goes
	// back): records were moved, swapped or relinked.
	Reordered Problem = "reordered"
	// Truncated: the chain ends before a checkpoint, or does not contain
	// it (it was cut and regrown, or rewritten up to it).
	Truncated Problem = "truncated"
)

// Report is the outcome of Verify.
type Report struct {
	TenantID string `json:"tenant_id"`
	// OK is true when the chain is intact and contains every checkpoint.
	OK bool `json:"ok"`
	// Records counts the intact records read before the first break.
	Records uint64 `json:"records"`
	// LastSeq and LastHash are those of the last intact record (0 and
	// ZeroHash when there is none).
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash"`
	// BrokenAt is the first broken sequence number: the modified,
	// missing or misplaced record, or the first missing one of a
	// truncated chain. Zero when OK.
	BrokenAt uint64 `json:"broken_at,omitempty"`
	// Problem says how the chain is broken, and Reason says it in words.
	// Empty when OK.
	Problem Problem `json:"problem,omitempty"`
	Reason  string  `json:"reason,omitempty"`
}

// Err is nil for an intact chain and otherwise an error wrapping
// ErrTampered that says where and how the chain is broken.
func (r Report) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w: tenant %s: %s at seq %d: %s", ErrTampered, r.TenantID, r.Problem, r.BrokenAt, r.Reason)
}

// Verify walks the tenant's chain from its first record, a page at a
// time, and reports the first break: a record whose hash does not match
// its content (Modified), a missing sequence number (Deleted), a record
// that does not link to its predecessor (Reordered), or, against the
// expected checkpoints, a chain that ends before one or does not contain
// it (Truncated). An empty trail with no checkpoint beyond it is intact.
//
// The chain alone cannot show records cut from its end, or a suffix
// rewritten with fresh hashes: pass checkpoints taken earlier for that.
// With Options.CheckpointKey every checkpoint must carry a valid
// signature (ErrBadSignature otherwise). Verify returns an error only
// for a checkpoint it refuses or a Store failure; a broken chain is a
// Report whose OK is false.
func (t *Trail) Verify(ctx context.Context, tenantID string, expect ...Checkpoint) (Report, error) {
	if err := text("tenantID", tenantID, maxTenant, true); err != nil {
		return Report{}, err
	}
	cps, err := t.checkpoints(tenantID, expect)
	if err != nil {
		return Report{}, err
	}
	rep := Report{TenantID: tenantID, LastHash: ZeroHash}
	for r, err := range t.Records(ctx, tenantID, 0) {
		if err != nil {
			return Report{}, err
		}
		if rep.check(r) {
			return rep, nil
		}
		for ; len(cps) > 0 && cps[0].Seq <= r.Seq; cps = cps[1:] {
			if cps[0].Hash != r.Hash {
				return rep.broken(r.Seq, Truncated, "the chain does not contain the checkpoint at seq %d: its record there has hash %s, the checkpoint %s",
					r.Seq, r.Hash, cps[0].Hash), nil
			}
		}
		rep.Records++
		rep.LastSeq, rep.LastHash = r.Seq, r.Hash
	}
	if len(cps) > 0 {
		return rep.broken(rep.LastSeq+1, Truncated, "the chain ends at seq %d, before the checkpoint at seq %d", rep.LastSeq, cps[0].Seq), nil
	}
	rep.OK = true
	return rep, nil
}

// check checks that r continues the intact chain that rep has read so
// far; when it does not, it records the break and returns true.
func (rep *Report) check(r Record) bool {
	want := rep.LastSeq + 1
	switch {
	case r.Seq > want:
		rep.broken(want, Deleted, "record %d is missing: the record after %d is %d", want, rep.LastSeq, r.Seq)
	case r.Seq < want:
		rep.broken(r.Seq, Reordered, "record %d comes after record %d", r.Seq, rep.LastSeq)
	case r.PrevHash != rep.LastHash:
		rep.broken(r.Seq, Reordered, "its prev_hash %s is not the hash %s of record %d", r.PrevHash, rep.LastHash, rep.LastSeq)
	case r.TenantID != rep.TenantID:
		rep.broken(r.Seq, Modified, "it belongs to tenant %s", r.TenantID)
	default:
		if h := r.ComputeHash(); h != r.Hash {
			rep.broken(r.Seq, Modified, "its content hashes to %s, not to its hash %s", h, r.Hash)
		}
	}
	return rep.Problem != ""
}

// broken records the break and returns the report.
func (rep *Report) broken(seq uint64, p Problem, format string, args ...any) Report {
	rep.BrokenAt, rep.Problem, rep.Reason = seq, p, fmt.Sprintf(format, args...)
	return *rep
}

// checkpoints checks the expected checkpoints of tenantID and returns
// them sorted by Seq.
func (t *Trail) checkpoints(tenantID string, expect []Checkpoint) ([]Checkpoint, error) {
	cps := slices.Clone(expect)
	for _, cp := range cps {
		switch {
		case cp.TenantID != tenantID:
			return nil, invalid("checkpoint at seq %d: TenantID %q is not %q", cp.Seq, cp.TenantID, tenantID)
		case !hexHash.MatchString(cp.Hash):
			return nil, invalid("checkpoint at seq %d: Hash: must be 64 lowercase hex digits", cp.Seq)
		case cp.Seq == 0 && cp.Hash != ZeroHash:
			return nil, invalid("checkpoint at seq 0: Hash: must be ZeroHash")
		}
		if len(t.opts.CheckpointKey) > 0 {
			want := sign(t.opts.CheckpointKey, cp)
			if !hmac.Equal([]byte(want), []byte(cp.Signature)) {
				return nil, fmt.Errorf("checkpoint of tenant %s at seq %d: %w", tenantID, cp.Seq, ErrBadSignature)
			}
		}
	}
	// Every chain contains the empty one.
	cps = slices.DeleteFunc(cps, func(cp Checkpoint) bool { return cp.Seq == 0 })
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return cps, nil
}
