package tenancy

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/saaskit/saaskit/problem"
)

// Limit is a token bucket: Rate requests per second on average, bursts
// of up to Burst. The zero Limit means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

func (l Limit) unlimited() bool { return l.Rate == 0 && l.Burst == 0 }

// LimitStore keeps the token buckets behind a [RateLimiter], one per
// key. [MemoryLimits] keeps them in this process (the default);
// tenancy/sqlstore and tenancy/redisstore keep them where every replica
// takes from the same buckets, so together they keep each limit.
type LimitStore interface {
	// Take takes one token at now from the bucket under key, which holds
	// up to limit.Burst tokens and refills at limit.Rate a second (GCRA:
	// the bucket starts full, and a refused request takes nothing). When
	// the bucket is empty it returns false and how long after now a token
	// will be there. limit is valid (finite Rate > 0, Burst >= 1) and may
	// change between calls for one key. Keys are any bytes.
	Take(ctx context.Context, key string, limit Limit, now time.Time) (ok bool, wait time.Duration, err error)
}

// RateLimitOptions configure a RateLimiter.
type RateLimitOptions struct {
	// Plans maps a plan tier (Tenant.Plan) to the limit of each of that
	// tenant's credentials.
	Plans map[string]Limit
	// Default applies to plans not in Plans. Default: no limit.
	Default Limit
	// Anonymous limits the requests to a tenant that present no
	// credential, per client address: a bucket of their own, so that
	// whoever names a tenant cannot spend its credentials' limit.
	// Default 1 request a second, in bursts of up to 10.
	Anonymous Limit
	// ClientAddr returns the address of an unauthenticated request's
	// client. Default: the host part of Request.RemoteAddr. Behind a
	// reverse proxy, return the address the proxy vouches for.
	ClientAddr func(r *http.Request) string
	// Shared, when set, keeps the buckets where every replica takes from
	// them (tenancy/sqlstore, tenancy/redisstore), so N replicas together
	// allow each limit once. When it fails (unreachable, timed out), the
	// request is limited by this process's own bucket for its key
	// instead, and a warning is logged: the limiter fails open to a
	// per-replica limit rather than refuse every request. Default: none,
	// the buckets live in this process only.
	Shared LimitStore
	// MaxBuckets bounds how many buckets this process keeps (all of them
	// without Shared; the fallback ones with it); the least recently seen
	// are dropped (and start full when seen again). Default 100000.
	MaxBuckets int
	// Logger records failures of Shared, at most one record a minute
	// (with the number of failures since the last). Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RateLimiter keeps a token bucket per credential, sized by its tenant's
// plan, and one per tenant and client address for requests without a
// credential. Without RateLimitOptions.Shared the buckets live in this
// process: N replicas allow N times each limit.
type RateLimiter struct {
	opts   RateLimitOptions
	local  *MemoryLimits
	warned atomic.Int64 // Unix nanoseconds of the last warning about Shared
	failed atomic.Int64 // failures of Shared since that warning
}

// warnEvery is the least time between two warnings about a failing
// shared store.
const warnEvery = time.Minute

// NewRateLimiter checks opts and returns a RateLimiter.
func NewRateLimiter(opts RateLimitOptions) (*RateLimiter, error) {
	if opts.Anonymous.unlimited() {
		opts.Anonymous = Limit{Rate: 1, Burst: 10}
	}
	if err := opts.Default.check("default"); err != nil {
		return nil, err
	}
	if err := opts.Anonymous.check("anonymous"); err != nil {
		return nil, err
	}
	for plan, l := range opts.Plans {
		if err := l.check("for plan " + plan); err != nil {
			return nil, err
		}
	}
	if opts.ClientAddr == nil {
		opts.ClientAddr = remoteHost
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RateLimiter{opts: opts, local: NewMemoryLimits(opts.MaxBuckets)}, nil
}

// check reports whether l is a valid limit or none.
func (l Limit) check(name string) error {
	if l.unlimited() {
		return nil
	}
	if l.Rate <= 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate) || l.Burst < 1 {
		return fmt.Errorf("rate limit %s: %w", name, fieldErr("limit", "needs a finite Rate > 0 and Burst >= 1, or both zero for no limit"))
	}
	return nil
}

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (l *RateLimiter) limitFor(plan string) Limit {
	if lim, ok := l.opts.Plans[plan]; ok {
		return lim
	}
	return l.opts.Default
}

// Allow is AllowContext with context.Background().
func (l *RateLimiter) Allow(p *Principal) (bool, time.Duration) {
	return l.AllowContext(context.Background(), p)
}

// AllowContext takes one token from the bucket of p's credential, sized
// by its tenant's plan. When none is left it returns false and how long
// until one is. ctx bounds the call to the shared store, if any.
func (l *RateLimiter) AllowContext(ctx context.Context, p *Principal) (bool, time.Duration) {
	return l.take(ctx, "p\x00"+p.Tenant.ID+"\x00"+p.Subject, l.limitFor(p.Tenant.Plan))
}

// AllowAnonymous is AllowAnonymousContext with context.Background().
func (l *RateLimiter) AllowAnonymous(t *Tenant, client string) (bool, time.Duration) {
	return l.AllowAnonymousContext(context.Background(), t, client)
}

// AllowAnonymousContext takes one token from the bucket that requests to
// t without a credential share per client address.
func (l *RateLimiter) AllowAnonymousContext(ctx context.Context, t *Tenant, client string) (bool, time.Duration) {
	return l.take(ctx, "a\x00"+t.ID+"\x00"+client, l.opts.Anonymous)
}

// take takes one token from the bucket under key, of size limit: from the
// shared store if there is one and it answers, else from this process's.
func (l *RateLimiter) take(ctx context.Context, key string, limit Limit) (bool, time.Duration) {
	if limit.unlimited() {
		return true, 0
	}
	now := l.opts.Now()
	if l.opts.Shared != nil {
		ok, wait, err := l.opts.Shared.Take(ctx, key, limit, now)
		if err == nil {
			return ok, wait
		}
		l.warn(ctx, now, err)
	}
	ok, wait, _ := l.local.Take(ctx, key, limit, now) // MemoryLimits never fails
	return ok, wait
}

// warn logs a failure of the shared store, at most once every warnEvery
// (a caller that went away is not the store's failure).
func (l *RateLimiter) warn(ctx context.Context, now time.Time, err error) {
	if ctx.Err() != nil {
		return
	}
	l.failed.Add(1)
	last := l.warned.Load()
	if last != 0 && now.UnixNano()-last < int64(warnEvery) || !l.warned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	failed := l.failed.Swap(0)
	l.opts.Logger.WarnContext(ctx, "tenancy shared rate limit store failed; limiting per process",
		slog.String("error", err.Error()), slog.Int64("failures", failed))
}

// MemoryLimits is the LimitStore of one process: token buckets
// (golang.org/x/time/rate) in a bounded LRU map. It is RateLimiter's
// default, and its fallback when a shared store fails.
type MemoryLimits struct {
	buckets *lru.Cache[string, *bucket]
	mu      sync.Mutex // serialises bucket creation
}

var _ LimitStore = (*MemoryLimits)(nil)

type bucket struct {
	lim  *rate.Limiter
	mu   sync.Mutex // guards limit; serialises reserve and cancel
	size Limit
}

// NewMemoryLimits returns a MemoryLimits keeping at most maxBuckets
// buckets (default 100000 when maxBuckets <= 0): past it, the least
// recently used is dropped, and starts full when its key comes back.
func NewMemoryLimits(maxBuckets int) *MemoryLimits {
	if maxBuckets <= 0 {
		maxBuckets = 100000
	}
	cache, _ := lru.New[string, *bucket](maxBuckets) // fails only for a size <= 0
	return &MemoryLimits{buckets: cache}
}

// Take implements LimitStore. It never fails.
func (m *MemoryLimits) Take(_ context.Context, key string, limit Limit, now time.Time) (bool, time.Duration, error) {
	b := m.bucket(key, limit, now)
	// Reserve and cancel under the bucket's lock: x/time/rate gives back
	// only part of a cancelled reservation when another one was made in
	// between, so concurrent denials would drain the bucket below empty
	// and lengthen every later wait.
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// bucket returns the bucket under key, resized if its limit changed
// (its tenant's plan did).
func (m *MemoryLimits) bucket(key string, limit Limit, now time.Time) *bucket {
	b, ok := m.buckets.Get(key)
	if !ok {
		m.mu.Lock()
		if b, ok = m.buckets.Get(key); !ok {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst), size: limit}
			m.buckets.Add(key, b)
		}
		m.mu.Unlock()
	}
	b.mu.Lock()
	if b.size != limit {
		b.lim.SetLimitAt(now, rate.Limit(limit.Rate))
		b.lim.SetBurstAt(now, limit.Burst)
		b.size = limit
	}
	b.mu.Unlock()
	return b
}

// Middleware limits requests (it runs after the resolution Middleware,
// whose tenant and principal it reads): an authenticated request spends
// its credential's bucket, an unauthenticated one the bucket of its
// tenant and client address. Requests over the limit get 429 with
// Retry-After in whole seconds. Requests without a tenant pass.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := FromContext(r.Context())
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		var ok bool
		var wait time.Duration
		if p, authenticated := PrincipalFromContext(r.Context()); authenticated {
			ok, wait = l.AllowContext(r.Context(), p)
		} else {
			ok, wait = l.AllowAnonymousContext(r.Context(), t, l.opts.ClientAddr(r))
		}
		if !ok {
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			problem.Write(w, problem.Details{Status: http.StatusTooManyRequests,
				Detail: fmt.Sprintf("over the request rate for tenant %q; retry in %d s", t.Slug, secs)})
			return
		}
		next.ServeHTTP(w, r)
	})
}
