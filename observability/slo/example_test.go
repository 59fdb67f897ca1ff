package slo_test

import (
	"fmt"
	"time"

	"github.com/saaskit/saaskit/observability/slo"
)

// Evaluate the default policy over counters sampled each minute: a day at
// 0.1% errors, then a full outage. The series is a day old, so its 3-day
// window reads from the first sample.
func ExampleSLO_Alerts() {
	checkout := slo.SLO{Name: "checkout", Objective: 0.999}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var samples []slo.Sample
	var total, bad float64
	for minute := range 24*60 + 3 {
		samples = append(samples, slo.Sample{At: start.Add(time.Duration(minute) * time.Minute), Total: total, Bad: bad})
		total += 1000
		if minute < 24*60 {
			bad++
		} else {
			bad += 1000
		}
	}
	for _, into := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		now := start.Add(24*time.Hour + into)
		alerts, err := checkout.Alerts(samples, now, nil) // nil: DefaultPolicy
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%v into the outage: %d alerts\n", into, len(alerts))
		for _, a := range alerts {
			fmt.Printf("  %s: burn rate %.1f over %v and %.1f over %v\n", a.Severity, a.LongBurn, a.Long, a.ShortBurn, a.Short)
		}
	}
	// Output:
	// 0s into the outage: 0 alerts
	// 1m0s into the outage: 2 alerts
	//   page: burn rate 17.6 over 1h0m0s and 200.8 over 5m0s
	//   ticket: burn rate 1.7 over 72h0m0s and 3.8 over 6h0m0s
	// 2m0s into the outage: 3 alerts
	//   page: burn rate 34.3 over 1h0m0s and 400.6 over 5m0s
	//   page: burn rate 6.5 over 6h0m0s and 67.6 over 30m0s
	//   ticket: burn rate 2.4 over 72h0m0s and 6.5 over 6h0m0s
}

// How much of the error budget is left after an incident.
func ExampleSLO_Budget() {
	checkout := slo.SLO{Name: "checkout", Objective: 0.999, Period: 7 * 24 * time.Hour}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	samples := []slo.Sample{
		{At: start, Total: 0, Bad: 0},
		{At: start.Add(7 * 24 * time.Hour), Total: 1_000_000, Bad: 250},
	}
	b, err := checkout.Budget(samples, start.Add(7*24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.0f of %.0f bad events allowed: %.0f%% of the budget left\n", b.Bad, b.Allowed, 100*b.Remaining)
	// Output: 250 of 1000 bad events allowed: 75% of the budget left
}

// Export a latency SLO as Prometheus rules, with a policy of one alert.
func ExampleSLO_PrometheusRules() {
	fast := slo.SLO{
		Name:      "checkout_latency",
		Objective: 0.99,
		SLI:       slo.SLI{Latency: 500 * time.Millisecond},
	}
	rules, err := fast.PrometheusRules(slo.Policy{
		{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: slo.Page},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(rules))
	// Output:
	// groups:
	//   - name: slo:checkout_latency
	//     rules:
	//       - record: slo:checkout_latency:error_ratio:rate5m
	//         expr: 1 - sum(rate(http_server_request_duration_seconds_bucket{le="0.5"}[5m])) / sum(rate(http_server_request_duration_seconds_count[5m]))
	//         labels:
	//           slo: checkout_latency
	//       - record: slo:checkout_latency:error_ratio:rate1h
	//         expr: 1 - sum(rate(http_server_request_duration_seconds_bucket{le="0.5"}[1h])) / sum(rate(http_server_request_duration_seconds_count[1h]))
	//         labels:
	//           slo: checkout_latency
	//       - alert: ErrorBudgetBurn
	//         expr: |-
	//           slo:checkout_latency:error_ratio:rate1h > (14.4 * (1 - 0.99))
	//           and
	//           slo:checkout_latency:error_ratio:rate5m > (14.4 * (1 - 0.99))
	//         labels:
	//           long_window: 1h
	//           severity: page
	//           short_window: 5m
	//           slo: checkout_latency
	//         annotations:
	//           summary: 'SLO checkout_latency: error budget burn rate above 14.4 over 1h and over 5m (objective 0.99 over 30d)'
}
