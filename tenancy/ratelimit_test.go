package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

// rlClock is a fake clock for RateLimitOptions.Now: tests move *now
// forward instead of sleeping.
func rlClock() (*time.Time, func() time.Time) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &now, func() time.Time { return now }
}

func newRL(t *testing.T, opts tenancy.RateLimitOptions) *tenancy.RateLimiter {
	t.Helper()
	l, err := tenancy.NewRateLimiter(opts)
	require.NoError(t, err)
	return l
}

// keyOf is a principal of tn: one API key of the tenant.
func keyOf(tn *tenancy.Tenant) *tenancy.Principal {
	return &tenancy.Principal{Tenant: tn, Subject: "key:k1"}
}

// rlAllowed calls Allow n times and returns how many were allowed.
func rlAllowed(l *tenancy.RateLimiter, tn *tenancy.Tenant, n int) int {
	ok := 0
	for range n {
		if allowed, _ := l.Allow(keyOf(tn)); allowed {
			ok++
		}
	}
	return ok
}

func TestRateLimiterBurstThenDeny(t *testing.T) {
	now, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 4, Burst: 3}, Now: clock})
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme"}

	for i := range 3 {
		ok, wait := l.Allow(keyOf(acme))
		require.True(t, ok, "request %d of the burst", i)
		assert.Zero(t, wait)
	}
	// A denied request costs nothing: the wait stays one token's worth.
	for range 3 {
		ok, wait := l.Allow(keyOf(acme))
		assert.False(t, ok)
		assert.Equal(t, 250*time.Millisecond, wait)
	}

	*now = now.Add(100 * time.Millisecond)
	ok, wait := l.Allow(keyOf(acme))
	assert.False(t, ok)
	assert.Equal(t, 150*time.Millisecond, wait)

	*now = now.Add(150 * time.Millisecond) // one token refilled
	ok, wait = l.Allow(keyOf(acme))
	assert.True(t, ok)
	assert.Zero(t, wait)
	ok, _ = l.Allow(keyOf(acme))
	assert.False(t, ok)

	*now = now.Add(time.Hour) // refills up to Burst, never beyond
	assert.Equal(t, 3, rlAllowed(l, acme, 10))
}

func TestRateLimiterSeparateBucketsPerTenant(t *testing.T) {
	_, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 1, Burst: 2}, Now: clock})
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme"}
	globex := &tenancy.Tenant{ID: "globex", Slug: "globex"}

	assert.Equal(t, 2, rlAllowed(l, acme, 50))
	ok, _ := l.Allow(keyOf(acme))
	require.False(t, ok, "acme is exhausted")

	assert.Equal(t, 2, rlAllowed(l, globex, 50), "globex has its own full bucket")
	// Same ID, another *Tenant value: the bucket is keyed by ID.
	ok, _ = l.Allow(keyOf(&tenancy.Tenant{ID: "acme", Slug: "acme"}))
	assert.False(t, ok)
}

func TestRateLimiterPlans(t *testing.T) {
	plans := map[string]tenancy.Limit{
		"free":       {Rate: 1, Burst: 1},
		"pro":        {Rate: 10, Burst: 5},
		"enterprise": {}, // explicitly unlimited
	}
	tests := []struct {
		name     string
		def      tenancy.Limit
		plan     string
		wantOK   int // of 1000 calls with a frozen clock
		wantWait time.Duration
	}{
		{"free plan", tenancy.Limit{Rate: 1, Burst: 2}, "free", 1, time.Second},
		{"pro plan", tenancy.Limit{Rate: 1, Burst: 2}, "pro", 5, 100 * time.Millisecond},
		{"unlimited plan", tenancy.Limit{Rate: 1, Burst: 2}, "enterprise", 1000, 0},
		{"unknown plan gets Default", tenancy.Limit{Rate: 2, Burst: 2}, "gold", 2, 500 * time.Millisecond},
		{"empty plan gets Default", tenancy.Limit{Rate: 2, Burst: 2}, "", 2, 500 * time.Millisecond},
		{"zero Default is unlimited", tenancy.Limit{}, "gold", 1000, 0},
		{"zero Default leaves plans limited", tenancy.Limit{}, "free", 1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, clock := rlClock()
			l := newRL(t, tenancy.RateLimitOptions{Plans: plans, Default: tt.def, Now: clock})
			tn := &tenancy.Tenant{ID: "t1", Slug: "t1", Plan: tt.plan}
			assert.Equal(t, tt.wantOK, rlAllowed(l, tn, 1000))
			ok, wait := l.Allow(keyOf(tn))
			assert.Equal(t, tt.wantOK == 1000, ok)
			assert.Equal(t, tt.wantWait, wait)
		})
	}
}

func TestNewRateLimiterRejectsInvalidLimits(t *testing.T) {
	tests := []struct {
		name  string
		limit tenancy.Limit
	}{
		{"negative rate", tenancy.Limit{Rate: -1, Burst: 1}},
		{"NaN rate", tenancy.Limit{Rate: math.NaN(), Burst: 1}},
		{"+Inf rate", tenancy.Limit{Rate: math.Inf(1), Burst: 1}},
		{"-Inf rate", tenancy.Limit{Rate: math.Inf(-1), Burst: 1}},
		{"burst 0 with a rate", tenancy.Limit{Rate: 1, Burst: 0}},
		{"negative burst", tenancy.Limit{Rate: 1, Burst: -1}},
		{"burst without a rate", tenancy.Limit{Rate: 0, Burst: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" as Default", func(t *testing.T) {
			l, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{Default: tt.limit})
			require.ErrorIs(t, err, tenancy.ErrInvalid)
			assert.Nil(t, l)
			var fe *tenancy.FieldError
			assert.True(t, errors.As(err, &fe), "validation errors carry a *FieldError")
		})
		t.Run(tt.name+" in Plans", func(t *testing.T) {
			l, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{
				Plans: map[string]tenancy.Limit{"ok": {Rate: 1, Burst: 1}, "bad": tt.limit},
			})
			require.ErrorIs(t, err, tenancy.ErrInvalid)
			assert.Nil(t, l)
			assert.Contains(t, err.Error(), "bad", "the error names the plan")
		})
	}

	l, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{})
	require.NoError(t, err, "the zero options are valid")
	ok, wait := l.Allow(keyOf(&tenancy.Tenant{ID: "x"}))
	assert.True(t, ok)
	assert.Zero(t, wait)
}

func TestRateLimiterPlanChangeTakesEffect(t *testing.T) {
	now, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{
		Plans: map[string]tenancy.Limit{
			"free": {Rate: 1, Burst: 1},
			"pro":  {Rate: 10, Burst: 5},
			"vip":  {},
		},
		Now: clock,
	})
	free := &tenancy.Tenant{ID: "acme", Plan: "free"}
	pro := &tenancy.Tenant{ID: "acme", Plan: "pro"}
	vip := &tenancy.Tenant{ID: "acme", Plan: "vip"}

	require.Equal(t, 1, rlAllowed(l, free, 10))
	_, wait := l.Allow(keyOf(free))
	require.Equal(t, time.Second, wait)

	// Upgraded: the bucket refills at the pro rate at once.
	ok, wait := l.Allow(keyOf(pro))
	assert.False(t, ok)
	assert.Equal(t, 100*time.Millisecond, wait)
	*now = now.Add(time.Minute)
	assert.Equal(t, 5, rlAllowed(l, pro, 10), "pro burst")

	// Downgraded with a full pro bucket: capped to the free burst.
	*now = now.Add(time.Minute)
	assert.Equal(t, 1, rlAllowed(l, free, 10), "free burst after downgrade")
	_, wait = l.Allow(keyOf(free))
	assert.Equal(t, time.Second, wait)

	// Moved to an unlimited plan: no limit at all.
	assert.Equal(t, 100, rlAllowed(l, vip, 100))
}

func TestRateLimiterMaxBucketsDropsLeastRecentlyUsed(t *testing.T) {
	slow := tenancy.Limit{Rate: 0.001, Burst: 1} // a token every 1000 s
	tests := []struct {
		name       string
		maxTenants int
		wantBFull  bool // b's bucket was dropped and starts full again
	}{
		{"bounded to two", 2, true},
		{"default bound keeps all", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, clock := rlClock()
			l := newRL(t, tenancy.RateLimitOptions{Default: slow, MaxBuckets: tt.maxTenants, Now: clock})
			a, b, c := &tenancy.Tenant{ID: "a"}, &tenancy.Tenant{ID: "b"}, &tenancy.Tenant{ID: "c"}

			require.Equal(t, 1, rlAllowed(l, a, 3))
			require.Equal(t, 1, rlAllowed(l, b, 3))
			ok, _ := l.Allow(keyOf(a)) // a is now more recently used than b
			require.False(t, ok)

			ok, _ = l.Allow(keyOf(c)) // a third tenant: b, the least recent, goes
			assert.True(t, ok)
			ok, _ = l.Allow(keyOf(a))
			assert.False(t, ok, "a was recently used and keeps its empty bucket")
			ok, _ = l.Allow(keyOf(b))
			assert.Equal(t, tt.wantBFull, ok)
		})
	}
}

func TestRateLimiterMiddleware(t *testing.T) {
	tests := []struct {
		name           string
		rate           float64
		wantRetryAfter string
	}{
		{"wait under a second rounds up to 1", 4, "1"},       // 250 ms
		{"whole seconds", 0.5, "2"},                          // 2 s
		{"fractional seconds round up", 0.4, "3"},            // 2.5 s
		{"just over a whole second rounds up", 1 / 1.1, "2"}, // 1.1 s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, clock := rlClock()
			l := newRL(t, tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: tt.rate, Burst: 2}, Now: clock})
			var calls atomic.Int32
			h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			acme := &tenancy.Tenant{ID: "t-acme", Slug: "acme"}
			ctx := tenancy.WithPrincipal(tenancy.WithTenant(context.Background(), acme), keyOf(acme))
			do := func() *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx))
				return rec
			}

			for range 2 {
				rec := do()
				require.Equal(t, http.StatusNoContent, rec.Code)
				assert.Empty(t, rec.Header().Get("Retry-After"))
			}
			require.EqualValues(t, 2, calls.Load())

			rec := do()
			assert.Equal(t, http.StatusTooManyRequests, rec.Code)
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			assert.Equal(t, tt.wantRetryAfter, rec.Header().Get("Retry-After"))
			assert.EqualValues(t, 2, calls.Load(), "the next handler is not called")
			var body struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, http.StatusTooManyRequests, body.Status)
			assert.Contains(t, body.Detail, "acme")
		})
	}
}

func TestRateLimiterMiddlewareWithoutTenantPasses(t *testing.T) {
	_, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 1, Burst: 1}, Now: clock})
	calls := 0
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusNoContent)
	}))
	for range 10 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusNoContent, rec.Code)
	}
	assert.Equal(t, 10, calls)
}

// TestRateLimiterConcurrent: with a frozen clock exactly Burst of many
// concurrent calls succeed, and the denied ones do not drain the bucket
// below empty: one token's worth of time later, exactly one more succeeds.
func TestRateLimiterConcurrent(t *testing.T) {
	const burst, goroutines, calls = 25, 32, 50
	now, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 10, Burst: burst}, Now: clock})
	acme := &tenancy.Tenant{ID: "acme"}

	round := func() int64 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range goroutines {
			wg.Go(func() {
				<-start
				for range calls {
					if ok, wait := l.Allow(keyOf(acme)); ok {
						allowed.Add(1)
					} else {
						assert.Positive(t, wait)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		return allowed.Load()
	}

	assert.EqualValues(t, burst, round())

	*now = now.Add(100 * time.Millisecond) // one token at 10/s
	assert.EqualValues(t, 1, round())

	*now = now.Add(time.Hour)
	assert.EqualValues(t, burst, round())
}

// TestRateLimiterKeepsAnonymousTrafficApart: requests that merely name a
// tenant spend a small bucket per client address, never the tenant's
// credentials' buckets; each credential has its own.
func TestRateLimiterKeepsAnonymousTrafficApart(t *testing.T) {
	_, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{
		Default:   tenancy.Limit{Rate: 1, Burst: 5},
		Anonymous: tenancy.Limit{Rate: 1, Burst: 2},
		Now:       clock,
	})
	globex := &tenancy.Tenant{ID: "t-globex", Slug: "globex", Plan: "pro"}
	var served []string
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = append(served, r.RemoteAddr)
	}))
	do := func(p *tenancy.Principal, addr string) int {
		ctx := tenancy.WithTenant(context.Background(), globex)
		if p != nil {
			ctx = tenancy.WithPrincipal(ctx, p)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for range 10 { // an attacker naming globex, from one address
		do(nil, "203.0.113.9:4000")
	}
	assert.Equal(t, http.StatusTooManyRequests, do(nil, "203.0.113.9:4001"), "the anonymous bucket of that address is spent")
	assert.Equal(t, http.StatusOK, do(nil, "198.51.100.7:5000"), "another address has its own anonymous bucket")
	key1, key2 := keyOf(globex), &tenancy.Principal{Tenant: globex, Subject: "key:k2"}
	for i := range 5 {
		assert.Equal(t, http.StatusOK, do(key1, "203.0.113.9:4000"), "globex's key, request %d", i)
	}
	assert.Equal(t, http.StatusTooManyRequests, do(key1, "203.0.113.9:4000"), "the key's own bucket is spent")
	assert.Equal(t, http.StatusOK, do(key2, "203.0.113.9:4000"), "another key has its own bucket")
}

func TestRateLimiterDefaultAnonymousLimit(t *testing.T) {
	_, clock := rlClock()
	l := newRL(t, tenancy.RateLimitOptions{Now: clock})
	acme := &tenancy.Tenant{ID: "acme"}
	allowed := 0
	for range 20 {
		if ok, _ := l.AllowAnonymous(acme, "192.0.2.1"); ok {
			allowed++
		}
	}
	assert.Equal(t, 10, allowed, "a burst of 10 by default")
	assert.Equal(t, 20, rlAllowed(l, acme, 20), "credentials of a plan without a limit are not limited")
}
