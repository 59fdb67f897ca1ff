package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/tenancytest"
)

func TestMemoryLimitsConformance(t *testing.T) {
	tenancytest.RunLimitStoreTests(t, func(t *testing.T) tenancy.LimitStore { return tenancy.NewMemoryLimits(0) })
}

// flakyStore is a shared LimitStore that fails while down and records
// the contexts it was called with.
type flakyStore struct {
	mu    sync.Mutex
	down  bool
	calls int
	ctxs  []context.Context
	inner *tenancy.MemoryLimits
}

func (f *flakyStore) Take(ctx context.Context, key string, limit tenancy.Limit, now time.Time) (bool, time.Duration, error) {
	f.mu.Lock()
	f.calls++
	f.ctxs = append(f.ctxs, ctx)
	down := f.down
	f.mu.Unlock()
	if down {
		return false, 0, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return f.inner.Take(ctx, key, limit, now)
}

func (f *flakyStore) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// TestRateLimiterUsesTheSharedStore: two limiters, as two replicas, on
// one shared store allow the limit once in all.
func TestRateLimiterUsesTheSharedStore(t *testing.T) {
	_, clock := rlClock()
	shared := &flakyStore{inner: tenancy.NewMemoryLimits(0)}
	opts := tenancy.RateLimitOptions{Default: tenancy.Limit{Rate: 1, Burst: 3}, Shared: shared, Now: clock}
	a, b := newRL(t, opts), newRL(t, opts)
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme"}
	assert.Equal(t, 3, rlAllowed(a, acme, 2)+rlAllowed(b, acme, 5), "the replicas share one bucket")
	ok, wait := a.AllowAnonymous(acme, "192.0.2.1")
	assert.True(t, ok)
	assert.Zero(t, wait)
	assert.Equal(t, 8, shared.calls)
}

// TestRateLimiterFallsBackWhenSharedFails: while the shared store fails,
// each replica limits with its own bucket for the key, and says so in a
// warning at most once a minute.
func TestRateLimiterFallsBackWhenSharedFails(t *testing.T) {
	now, clock := rlClock()
	var logs bytes.Buffer
	shared := &flakyStore{inner: tenancy.NewMemoryLimits(0)}
	l := newRL(t, tenancy.RateLimitOptions{
		Default: tenancy.Limit{Rate: 1, Burst: 3}, Shared: shared, Now: clock,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme"}
	require.Equal(t, 2, rlAllowed(l, acme, 2), "from the shared bucket")

	shared.setDown(true)
	assert.Equal(t, 3, rlAllowed(l, acme, 10), "this process's own bucket, full")
	ok, wait := l.Allow(keyOf(acme))
	assert.False(t, ok, "the fallback still limits")
	assert.Equal(t, time.Second, wait)
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "one warning for many failures: %s", logs.String())
	assert.Contains(t, logs.String(), "connection refused")

	*now = now.Add(time.Minute)
	l.Allow(keyOf(acme))
	assert.Equal(t, 2, strings.Count(logs.String(), "level=WARN"), "another a minute later")
	assert.Contains(t, logs.String(), "failures=11", "counting the failures since the last warning")

	shared.setDown(false)
	*now = now.Add(time.Second)
	assert.Equal(t, 3, rlAllowed(l, acme, 10), "the shared bucket again, refilled in the 61 s since")
	assert.Equal(t, 2+10+1+1+10, shared.calls, "every take asked the shared store first")

	// A caller that went away is not the store's failure: no warning.
	shared.setDown(true)
	*now = now.Add(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.AllowContext(ctx, keyOf(acme))
	assert.Equal(t, 2, strings.Count(logs.String(), "level=WARN"))
}

// TestMiddlewarePassesTheRequestContext: the shared store sees the
// request's context, so a request's deadline bounds the check.
func TestMiddlewarePassesTheRequestContext(t *testing.T) {
	_, clock := rlClock()
	shared := &flakyStore{inner: tenancy.NewMemoryLimits(0)}
	l := newRL(t, tenancy.RateLimitOptions{Anonymous: tenancy.Limit{Rate: 1, Burst: 1}, Shared: shared, Now: clock})
	acme := &tenancy.Tenant{ID: "acme", Slug: "acme"}
	type marker struct{}
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		r := httptest.NewRequest("GET", "/", nil)
		ctx := context.WithValue(tenancy.WithTenant(r.Context(), acme), marker{}, "this request")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(ctx))
		assert.Equal(t, want, w.Code)
	}
	require.Len(t, shared.ctxs, 2)
	assert.Equal(t, "this request", shared.ctxs[1].Value(marker{}))
}
