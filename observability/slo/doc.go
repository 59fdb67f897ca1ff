// Package slo is service level objectives with the multiwindow,
// multi-burn-rate alerts of the Google SRE Workbook ("Alerting on SLOs"):
// evaluated in Go as a pure function of counter samples, and exported as
// Prometheus recording and alerting rules that fire on the same
// conditions.
//
//	checkout := slo.SLO{Name: "checkout", Objective: 0.999} // 99.9% over 30 days
//	alerts, err := checkout.Alerts(samples, now, nil)       // nil: DefaultPolicy
//	budget, err := checkout.Budget(samples, now)            // budget.Remaining: 1 untouched, <0 overspent
//	rules, err := checkout.PrometheusRules(nil)             // a rules file for Prometheus's rule_files
//
// # Burn rates
//
// The error budget is the fraction of events the objective allows to be
// bad: 0.1% for 99.9%. The burn rate over a window is the window's error
// ratio (bad events / events) divided by the budget: at 1 the budget
// lasts exactly the period; at 14.4 a 30-day budget loses 2% in an hour.
// A Policy alerts when the burn rate is above a factor over a long window
// and over a short one: the long window proves the budget is being spent,
// the short one that it still is, so an alert resolves minutes after the
// trouble ends. DefaultPolicy is the Workbook's: page above 14.4 over 1h
// and 5m, page above 6 over 6h and 30m, ticket above 1 over 3d and 6h.
// "Above" is strict, so a burn rate of exactly 1 (the objective met to
// the letter) never fires. A Policy is a plain slice: replace it or edit
// it.
//
// # Samples
//
// Alerts, BurnRate and Budget read a series of Samples: readings of two
// cumulative counters, all events and bad events, in time order, as
// Prometheus scrapes them or an OpenTelemetry cumulative sum reports
// them. They use no clock and do no I/O; the same samples and now give
// the same answer. A window counts the increase between the latest
// samples at or before its start and its end, across counter resets
// (process restarts), without extrapolating; a window without events
// burns nothing, so a series that stops reporting stops alerting.
// BurnRate documents the details.
//
// # Prometheus
//
// PrometheusRules writes one rule group per SLO: a recording rule
// slo:<Name>:error_ratio:rate<window> for each window the policy uses,
// then an alerting rule, ErrorBudgetBurn, for each policy entry, labelled
// with the SLO, severity and windows. The SLI's selectors default to
// OpenTelemetry's HTTP server metric as Prometheus stores it
// (http_server_request_duration_seconds): server errors (5xx) of all
// requests for availability, the bucket of the latency threshold for
// latency. Set the selectors to narrow them to a service or to count
// other events.
package slo
