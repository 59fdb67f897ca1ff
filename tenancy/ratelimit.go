package tenancy

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/saaskit/saaskit/internal/problem"
)

// Limit is a token bucket: Rate requests per second on average, bursts
// of up to Burst. The zero Limit means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

func (l Limit) unlimited() bool { return l.Rate == 0 && l.Burst == 0 }

// RateLimitOptions configure a RateLimiter.
type RateLimitOptions struct {
	// Plans maps a plan tier (Tenant.Plan) to its limit.
	Plans map[string]Limit
	// Default applies to plans not in Plans. Default: no limit.
	Default Limit
	// MaxTenants bounds how many tenants' buckets are kept; the least
	// recently seen are dropped (and start full when seen again).
	// Default 100000.
	MaxTenants int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RateLimiter keeps a token bucket per tenant, sized by the tenant's plan.
type RateLimiter struct {
	opts    RateLimitOptions
	buckets *lru.Cache[string, *bucket]
	mu      sync.Mutex // serialises bucket creation
}

type bucket struct {
	lim  *rate.Limiter
	mu   sync.Mutex // guards plan; serialises reserve and cancel
	plan string
}

// NewRateLimiter checks opts and returns a RateLimiter.
func NewRateLimiter(opts RateLimitOptions) (*RateLimiter, error) {
	check := func(name string, l Limit) error {
		if l.unlimited() {
			return nil
		}
		if l.Rate <= 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate) || l.Burst < 1 {
			return fmt.Errorf("rate limit %s: %w", name, fieldErr("limit", "needs a finite Rate > 0 and Burst >= 1, or both zero for no limit"))
		}
		return nil
	}
	if err := check("default", opts.Default); err != nil {
		return nil, err
	}
	for plan, l := range opts.Plans {
		if err := check("for plan "+plan, l); err != nil {
			return nil, err
		}
	}
	if opts.MaxTenants <= 0 {
		opts.MaxTenants = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cache, err := lru.New[string, *bucket](opts.MaxTenants)
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return &RateLimiter{opts: opts, buckets: cache}, nil
}

func (l *RateLimiter) limitFor(plan string) Limit {
	if lim, ok := l.opts.Plans[plan]; ok {
		return lim
	}
	return l.opts.Default
}

// Allow takes one token from the tenant's bucket. When none is left it
// returns false and how long until one is.
func (l *RateLimiter) Allow(t *Tenant) (bool, time.Duration) {
	limit := l.limitFor(t.Plan)
	if limit.unlimited() {
		return true, 0
	}
	now := l.opts.Now()
	b := l.bucket(t, limit, now)
	// Reserve and cancel under the bucket's lock: x/time/rate gives back
	// only part of a cancelled reservation when another one was made in
	// between, so concurrent denials would drain the bucket below empty
	// and lengthen every later wait.
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucket returns the tenant's bucket, resized if its plan changed.
func (l *RateLimiter) bucket(t *Tenant, limit Limit, now time.Time) *bucket {
	b, ok := l.buckets.Get(t.ID)
	if !ok {
		l.mu.Lock()
		if b, ok = l.buckets.Get(t.ID); !ok {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst), plan: t.Plan}
			l.buckets.Add(t.ID, b)
		}
		l.mu.Unlock()
	}
	b.mu.Lock()
	if b.plan != t.Plan {
		b.lim.SetLimitAt(now, rate.Limit(limit.Rate))
		b.lim.SetBurstAt(now, limit.Burst)
		b.plan = t.Plan
	}
	b.mu.Unlock()
	return b
}

// Middleware limits requests per tenant (read from the context, so it
// runs after the resolution Middleware). Requests over the limit get 429
// with Retry-After in whole seconds. Requests without a tenant pass.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := FromContext(r.Context())
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := l.Allow(t); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			problem.Write(w, problem.Details{Status: http.StatusTooManyRequests,
				Detail: fmt.Sprintf("tenant %q is over its request rate; retry in %d s", t.Slug, max(secs, 1))})
			return
		}
		next.ServeHTTP(w, r)
	})
}
