package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/observability/health"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func returns(err error) health.CheckFunc {
	return func(context.Context) error { return err }
}

// serve runs the readiness handler once and decodes its answer.
func serve(t *testing.T, c *health.Checker) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, health.ContentType, w.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return w.Code, body
}

// checkOf returns the one result of check name in a decoded report.
func checkOf(t *testing.T, body map[string]any, name string) map[string]any {
	t.Helper()
	list, ok := body["checks"].(map[string]any)[name].([]any)
	require.True(t, ok, "no check %q in %v", name, body)
	require.Len(t, list, 1)
	return list[0].(map[string]any)
}

func TestLiveness(t *testing.T) {
	w := httptest.NewRecorder()
	health.Liveness().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/livez", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, health.ContentType, w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"status":"pass"}`, w.Body.String())
}

func TestStatusIsTheWorstAndSetsTheHTTPCode(t *testing.T) {
	warn := fmt.Errorf("%w: nearly full", health.ErrWarn)
	fail := errors.New("connection refused")
	tests := []struct {
		name   string
		errs   []error
		status health.Status
		code   int
	}{
		{"no checks", nil, health.StatusPass, http.StatusOK},
		{"all pass", []error{nil, nil}, health.StatusPass, http.StatusOK},
		{"a warning", []error{nil, warn}, health.StatusWarn, http.StatusOK},
		{"a failure", []error{nil, fail}, health.StatusFail, http.StatusServiceUnavailable},
		{"a warning and a failure", []error{warn, fail, nil}, health.StatusFail, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(t0)
			var checks []health.Check
			for i, err := range tt.errs {
				checks = append(checks, health.Check{Name: fmt.Sprint("c", i), Func: returns(err), ComponentType: "datastore"})
			}
			c, err := health.New(health.Options{Now: clk.Now}, checks...)
			require.NoError(t, err)

			code, body := serve(t, c)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, string(tt.status), body["status"])
			for i, err := range tt.errs {
				got := checkOf(t, body, fmt.Sprint("c", i))
				assert.Equal(t, "datastore", got["componentType"])
				assert.Equal(t, "2026-01-02T15:04:05Z", got["time"])
				switch {
				case err == nil:
					assert.Equal(t, "pass", got["status"])
					assert.NotContains(t, got, "output")
				case errors.Is(err, health.ErrWarn):
					assert.Equal(t, "warn", got["status"])
					assert.Equal(t, err.Error(), got["output"])
				default:
					assert.Equal(t, "fail", got["status"])
					assert.Equal(t, err.Error(), got["output"])
				}
			}

			rep := c.Check(context.Background())
			assert.Equal(t, tt.status, rep.Status)
			assert.Len(t, rep.Checks, len(tt.errs))
		})
	}
}

func TestReportCarriesServiceFields(t *testing.T) {
	c, err := health.New(health.Options{Version: "1", ReleaseID: "1.2.3", ServiceID: "billing", Description: "invoices"})
	require.NoError(t, err)
	_, body := serve(t, c)
	assert.Equal(t, map[string]any{"status": "pass", "version": "1", "releaseId": "1.2.3", "serviceId": "billing", "description": "invoices"}, body)
}

func TestNewRefusesInvalidChecks(t *testing.T) {
	ok := returns(nil)
	tests := []struct {
		name   string
		checks []health.Check
		want   string
	}{
		{"empty name", []health.Check{{Func: ok}}, "checks[0]: Name is empty"},
		{"no func", []health.Check{{Name: "db"}}, `"db": Func is nil`},
		{"duplicate", []health.Check{{Name: "db", Func: ok}, {Name: "db", Func: ok}}, `"db": Name is used twice`},
		{"negative timeout", []health.Check{{Name: "db", Func: ok, Timeout: -time.Second}}, `"db": Timeout is negative`},
		{"two colons", []health.Check{{Name: "db:pool:connections", Func: ok}}, `"db:pool:connections": Name must be`},
		{"empty component", []health.Check{{Name: ":x", Func: ok}}, `":x": Name must be`},
		{"empty measurement", []health.Check{{Name: "x:", Func: ok}}, `"x:": Name must be`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := health.New(health.Options{}, tt.checks...)
			require.ErrorIs(t, err, health.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestChecksRunInParallel(t *testing.T) {
	slow := func(ctx context.Context) error {
		time.Sleep(200 * time.Millisecond)
		return nil
	}
	c, err := health.New(health.Options{}, health.Check{Name: "a", Func: slow}, health.Check{Name: "b", Func: slow})
	require.NoError(t, err)
	start := time.Now()
	rep := c.Check(context.Background())
	assert.Equal(t, health.StatusPass, rep.Status)
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "two 200ms checks in parallel")
}

func TestHangingCheckFailsAtItsTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	hang := func(ctx context.Context) error {
		calls.Add(1)
		<-release // ignores ctx
		return nil
	}
	c, err := health.New(health.Options{TTL: -1},
		health.Check{Name: "hangs", Func: hang, Timeout: 100 * time.Millisecond},
		health.Check{Name: "fine", Func: returns(nil)},
	)
	require.NoError(t, err)

	start := time.Now()
	code, body := serve(t, c)
	assert.Less(t, time.Since(start), 2*time.Second, "the handler waits for the timeout, not the check")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	got := checkOf(t, body, "hangs")
	assert.Equal(t, "fail", got["status"])
	assert.Contains(t, got["output"], "timed out after 100ms")
	assert.Equal(t, "pass", checkOf(t, body, "fine")["status"])

	// While it still hangs, a new run fails at once instead of starting
	// another goroutine.
	rep := c.Check(context.Background())
	require.ErrorIs(t, rep.Checks["hangs"][0].Err, health.ErrTimeout)
	assert.Contains(t, rep.Checks["hangs"][0].Output, "has not returned")
	assert.Equal(t, int32(1), calls.Load())

	// Once it returns, it runs again.
	close(release)
	await.True(t, func() bool {
		return c.Check(context.Background()).Status == health.StatusPass
	})
	assert.Equal(t, int32(2), calls.Load())
}

func TestCheckThatFailsAfterItsDeadlineIsATimeout(t *testing.T) {
	c, err := health.New(health.Options{}, health.Check{Name: "slow", Timeout: 10 * time.Millisecond,
		Func: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("%w: %w", health.ErrWarn, ctx.Err())
		}})
	require.NoError(t, err)
	r := c.Check(context.Background()).Checks["slow"][0]
	assert.Equal(t, health.StatusFail, r.Status, "a late warning is still a timeout")
	assert.ErrorIs(t, r.Err, health.ErrTimeout)
}

func TestResultsAreCachedForTheTTL(t *testing.T) {
	clk := testclock.New(t0)
	var calls atomic.Int32
	c, err := health.New(health.Options{Now: clk.Now, TTL: 5 * time.Second}, health.Check{Name: "db",
		Func: func(context.Context) error {
			calls.Add(1)
			return errors.New("down") // failures are cached too
		}})
	require.NoError(t, err)

	first := c.Check(context.Background())
	clk.Advance(4 * time.Second)
	second := c.Check(context.Background())
	assert.Equal(t, int32(1), calls.Load(), "within the TTL")
	assert.Equal(t, first.Checks["db"][0].Time, second.Checks["db"][0].Time, "a cached result keeps its time")

	clk.Advance(2 * time.Second)
	third := c.Check(context.Background())
	assert.Equal(t, int32(2), calls.Load(), "after the TTL")
	assert.Equal(t, clk.Now(), third.Checks["db"][0].Time)
}

func TestConcurrentCallersShareOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		c, err := health.New(health.Options{TTL: -1}, health.Check{Name: "slow",
			Func: func(context.Context) error {
				calls.Add(1)
				<-release
				return nil
			}})
		require.NoError(t, err)

		var wg sync.WaitGroup
		codes := make([]int, 10)
		for i := range codes {
			wg.Go(func() {
				w := httptest.NewRecorder()
				c.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
				codes[i] = w.Code
			})
		}
		synctest.Wait() // every caller is waiting for the one run
		assert.Equal(t, int32(1), calls.Load())
		close(release)
		wg.Wait()
		for _, code := range codes {
			assert.Equal(t, http.StatusOK, code)
		}
		assert.Equal(t, int32(1), calls.Load())
	})
}

func TestPanickingCheckFails(t *testing.T) {
	c, err := health.New(health.Options{},
		health.Check{Name: "panics", Func: func(context.Context) error { panic("boom") }},
		health.Check{Name: "exits", Func: func(context.Context) error { runtime.Goexit(); return nil }},
	)
	require.NoError(t, err)
	code, body := serve(t, c)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "fail", checkOf(t, body, "panics")["status"])
	assert.Equal(t, "health: check panicked: boom", checkOf(t, body, "panics")["output"])
	assert.Equal(t, "fail", checkOf(t, body, "exits")["status"])

	rep := c.Check(context.Background())
	assert.ErrorIs(t, rep.Checks["panics"][0].Err, health.ErrPanic)
	assert.ErrorIs(t, rep.Checks["exits"][0].Err, health.ErrPanic)
}

func TestCallerThatGivesUpGetsItsContextError(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c, err := health.New(health.Options{}, health.Check{Name: "slow", Timeout: time.Minute,
		Func: func(context.Context) error { <-release; return nil }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := c.Check(ctx).Checks["slow"][0]
	assert.Equal(t, health.StatusFail, r.Status)
	assert.ErrorIs(t, r.Err, context.Canceled)
}
