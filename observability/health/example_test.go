package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/saaskit/saaskit/observability/health"
)

// A fixed clock keeps the times in the output stable.
var exampleNow = func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }

func ExampleLiveness() {
	w := httptest.NewRecorder()
	health.Liveness().ServeHTTP(w, httptest.NewRequest("GET", "/livez", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Print(w.Body.String())
	// Output:
	// 200 application/health+json
	// {"status":"pass"}
}

// A warning keeps the instance ready: 200 OK, status warn.
func ExampleChecker_Handler() {
	checker, err := health.New(health.Options{Now: exampleNow},
		health.Check{Name: "db", ComponentType: "datastore", Func: func(ctx context.Context) error { return nil }},
		health.Check{Name: "disk", Func: func(ctx context.Context) error {
			return fmt.Errorf("%w: 85%% full", health.ErrWarn)
		}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	checker.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Println(w.Code)
	fmt.Print(w.Body.String())
	// Output:
	// 200
	// {"status":"warn","checks":{"db":[{"status":"pass","componentType":"datastore","time":"2026-01-02T15:04:05Z"}],"disk":[{"status":"warn","time":"2026-01-02T15:04:05Z","output":"health: warn: 85% full"}]}}
}

// Check reports to code; a failing check makes the whole report fail.
func ExampleChecker_Check() {
	checker, _ := health.New(health.Options{Now: exampleNow},
		health.Check{Name: "cache", Func: func(ctx context.Context) error { return errors.New("connection refused") }},
	)
	rep := checker.Check(context.Background())
	fmt.Println(rep.Status, rep.Checks["cache"][0].Status, rep.Checks["cache"][0].Err)
	// Output: fail fail connection refused
}

// The queue check warns over its thresholds and fails over twice them.
func ExampleQueue() {
	for _, depth := range []int{1000, 1500, 2500} {
		check := health.Queue(func(ctx context.Context) (int, time.Duration, error) {
			return depth, 30 * time.Second, nil
		}, 1000, time.Minute)
		fmt.Println(depth, check(context.Background()))
	}
	// Output:
	// 1000 <nil>
	// 1500 health: warn: queue backlog: depth 1500 is over 1000
	// 2500 queue backlog: depth 2500 is over twice 1000
}
