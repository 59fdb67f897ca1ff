package slo

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// The Prometheus rules file format: groups of recording and alerting
// rules (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/).
type (
	ruleFile struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	ruleGroup struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	rule struct {
		Record      string            `yaml:"record,omitempty"`
		Alert       string            `yaml:"alert,omitempty"`
		Expr        string            `yaml:"expr"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
)

// AlertName is the alertname of every alert PrometheusRules writes; the
// labels slo, severity, long_window and short_window tell them apart.
const AlertName = "ErrorBudgetBurn"

// PrometheusRules returns a Prometheus rules file for s and policy (nil:
// DefaultPolicy): one group, "slo:<Name>", holding a recording rule for
// the error ratio over each distinct window,
//
//	slo:<Name>:error_ratio:rate5m = sum(rate(<bad>[5m])) / sum(rate(<total>[5m]))
//
// (1 - good/total for an SLI with a good selector), labelled slo=<Name>,
// then an alerting rule, AlertName, for each policy entry, firing while
// both of its recorded ratios are above Factor * (1 - Objective). The
// recording rules come first, so each evaluation of the group alerts on
// fresh ratios. A window without requests records no ratio (0/0), and
// its alert stays silent, as Alerts does.
func (s SLO) PrometheusRules(policy Policy) ([]byte, error) {
	policy = policy.orDefault()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	group := ruleGroup{Name: "slo:" + s.Name}
	for _, w := range windows(policy) {
		group.Rules = append(group.Rules, rule{
			Record: s.recordName(w),
			Expr:   s.SLI.errorRatioExpr(promDuration(w)),
			Labels: map[string]string{"slo": s.Name},
		})
	}
	objective := promFloat(s.Objective)
	for _, w := range policy {
		limit := "(" + promFloat(w.Factor) + " * (1 - " + objective + "))"
		long, short := promDuration(w.Long), promDuration(w.Short)
		group.Rules = append(group.Rules, rule{
			Alert: AlertName,
			Expr:  s.recordName(w.Long) + " > " + limit + "\nand\n" + s.recordName(w.Short) + " > " + limit,
			Labels: map[string]string{
				"slo": s.Name, "severity": string(w.Severity), "long_window": long, "short_window": short,
			},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("SLO %s: error budget burn rate above %s over %s and over %s (objective %s over %s)",
					s.Name, promFloat(w.Factor), long, short, objective, promDuration(s.period())),
			},
		})
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(ruleFile{Groups: []ruleGroup{group}}); err != nil {
		return nil, fmt.Errorf("slo: encode rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("slo: encode rules: %w", err)
	}
	return out.Bytes(), nil
}

// recordName is the name of the recording rule for the error ratio over w.
func (s SLO) recordName(w time.Duration) string {
	return "slo:" + s.Name + ":error_ratio:rate" + promDuration(w)
}

// errorRatioExpr is the PromQL for the error ratio over the range r.
func (i SLI) errorRatioExpr(r string) string {
	total, bad, good := i.selectors()
	rate := func(selector string) string { return "sum(rate(" + selector + "[" + r + "]))" }
	if bad != "" {
		return rate(bad) + " / " + rate(total)
	}
	return "1 - " + rate(good) + " / " + rate(total)
}

// windows returns the distinct windows of policy, shortest first.
func windows(policy Policy) []time.Duration {
	var ws []time.Duration
	for _, w := range policy {
		ws = append(ws, w.Long, w.Short)
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// promDuration writes d as a Prometheus duration in its largest whole
// unit: 5m, 1h, 3d, 90m. d is a positive whole number of milliseconds.
func promDuration(d time.Duration) string {
	units := []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for _, u := range units {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// promFloat writes f as a PromQL number, in the fewest digits that read
// back as f and without an exponent.
func promFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
