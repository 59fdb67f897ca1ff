package tenancy

import (
	"fmt"
	"math"
	"net"
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
	// MaxBuckets bounds how many buckets are kept; the least recently
	// seen are dropped (and start full when seen again). Default 100000.
	MaxBuckets int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RateLimiter keeps a token bucket per credential, sized by its tenant's
// plan, and one per tenant and client address for requests without a
// credential. The buckets live in this process: N replicas allow N
// times each limit.
type RateLimiter struct {
	opts    RateLimitOptions
	buckets *lru.Cache[string, *bucket]
	mu      sync.Mutex // serialises bucket creation
}

type bucket struct {
	lim  *rate.Limiter
	mu   sync.Mutex // guards limit; serialises reserve and cancel
	size Limit
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
	if opts.Anonymous.unlimited() {
		opts.Anonymous = Limit{Rate: 1, Burst: 10}
	}
	if err := check("default", opts.Default); err != nil {
		return nil, err
	}
	if err := check("anonymous", opts.Anonymous); err != nil {
		return nil, err
	}
	for plan, l := range opts.Plans {
		if err := check("for plan "+plan, l); err != nil {
			return nil, err
		}
	}
	if opts.ClientAddr == nil {
		opts.ClientAddr = remoteHost
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cache, err := lru.New[string, *bucket](opts.MaxBuckets)
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return &RateLimiter{opts: opts, buckets: cache}, nil
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

// Allow takes one token from the bucket of p's credential, sized by its
// tenant's plan. When none is left it returns false and how long until
// one is.
func (l *RateLimiter) Allow(p *Principal) (bool, time.Duration) {
	return l.take("p\x00"+p.Tenant.ID+"\x00"+p.Subject, l.limitFor(p.Tenant.Plan))
}

// AllowAnonymous takes one token from the bucket that requests to t
// without a credential share per client address.
func (l *RateLimiter) AllowAnonymous(t *Tenant, client string) (bool, time.Duration) {
	return l.take("a\x00"+t.ID+"\x00"+client, l.opts.Anonymous)
}

// take takes one token from the bucket under key, of size limit.
func (l *RateLimiter) take(key string, limit Limit) (bool, time.Duration) {
	if limit.unlimited() {
		return true, 0
	}
	now := l.opts.Now()
	b := l.bucket(key, limit, now)
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

// bucket returns the bucket under key, resized if its limit changed
// (its tenant's plan did).
func (l *RateLimiter) bucket(key string, limit Limit, now time.Time) *bucket {
	b, ok := l.buckets.Get(key)
	if !ok {
		l.mu.Lock()
		if b, ok = l.buckets.Get(key); !ok {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst), size: limit}
			l.buckets.Add(key, b)
		}
		l.mu.Unlock()
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
			ok, wait = l.Allow(p)
		} else {
			ok, wait = l.AllowAnonymous(t, l.opts.ClientAddr(r))
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
