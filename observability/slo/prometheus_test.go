package slo_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/saaskit/saaskit/observability/slo"
)

var update = flag.Bool("update", false, "rewrite the golden rule files in testdata")

// goldenSLOs are the rule files kept in testdata, by file name.
var goldenSLOs = map[string]struct {
	slo    slo.SLO
	policy slo.Policy
}{
	"availability.yaml": {slo: checkout},
	"latency.yaml": {
		slo: slo.SLO{Name: "checkout_latency", Objective: 0.99, Period: 28 * day, SLI: slo.SLI{
			Latency: 250 * time.Millisecond,
			Total:   `http_server_request_duration_seconds_count{job="checkout"}`,
			Good:    `http_server_request_duration_seconds_bucket{job="checkout",le="0.25"}`,
		}},
		policy: slo.Policy{
			{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: "critical"},
			{Long: 90 * time.Minute, Short: 1500 * time.Millisecond, Factor: 2.5, Severity: "warning"},
		},
	},
}

func TestPrometheusRulesGolden(t *testing.T) {
	for file, c := range goldenSLOs {
		t.Run(file, func(t *testing.T) {
			got, err := c.slo.PrometheusRules(c.policy)
			require.NoError(t, err)
			golden := filepath.Join("testdata", file)
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to write it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

// The Prometheus rules file format, read back.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr string
			Labels              map[string]string
			Annotations         map[string]string
		}
	}
}

func TestPrometheusRulesStructure(t *testing.T) {
	out, err := checkout.PrometheusRules(nil)
	require.NoError(t, err)
	var file ruleFile
	require.NoError(t, yaml.Unmarshal(out, &file))
	require.Len(t, file.Groups, 1)
	group := file.Groups[0]
	assert.Equal(t, "slo:checkout", group.Name)
	require.Len(t, group.Rules, 5+3)

	recorded := map[string]bool{}
	for i, window := range []string{"5m", "30m", "1h", "6h", "3d"} {
		r := group.Rules[i]
		assert.Equal(t, "slo:checkout:error_ratio:rate"+window, r.Record)
		assert.Equal(t, `sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[`+window+`]))`+
			` / sum(rate(http_server_request_duration_seconds_count[`+window+`]))`, r.Expr)
		assert.Equal(t, map[string]string{"slo": "checkout"}, r.Labels)
		recorded[r.Record] = true
	}

	for i, want := range []struct{ long, short, factor, severity string }{
		{"1h", "5m", "14.4", "page"},
		{"6h", "30m", "6", "page"},
		{"3d", "6h", "1", "ticket"},
	} {
		r := group.Rules[5+i]
		assert.Equal(t, slo.AlertName, r.Alert)
		assert.Empty(t, r.Record)
		assert.Equal(t, map[string]string{"slo": "checkout", "severity": want.severity, "long_window": want.long, "short_window": want.short}, r.Labels)
		limit := " > (" + want.factor + " * (1 - 0.999))"
		long, short := "slo:checkout:error_ratio:rate"+want.long, "slo:checkout:error_ratio:rate"+want.short
		assert.Equal(t, long+limit+"\nand\n"+short+limit, r.Expr)
		assert.True(t, recorded[long] && recorded[short], "alert %d reads ratios no rule records", i)
		assert.Contains(t, r.Annotations["summary"], "SLO checkout: error budget burn rate above "+want.factor)
	}
}

func TestPrometheusSelectors(t *testing.T) {
	ratio := func(t *testing.T, sli slo.SLI) string {
		t.Helper()
		out, err := slo.SLO{Name: "api", Objective: 0.99, SLI: sli}.PrometheusRules(nil)
		require.NoError(t, err)
		var file ruleFile
		require.NoError(t, yaml.Unmarshal(out, &file))
		require.Equal(t, "slo:api:error_ratio:rate5m", file.Groups[0].Rules[0].Record)
		return file.Groups[0].Rules[0].Expr
	}
	for latency, le := range map[time.Duration]string{
		300 * time.Millisecond:  "0.3",
		5 * time.Millisecond:    "0.005",
		time.Second:             "1.0",
		2500 * time.Millisecond: "2.5",
		10 * time.Second:        "10.0",
	} {
		assert.Equal(t, `1 - sum(rate(http_server_request_duration_seconds_bucket{le="`+le+`"}[5m]))`+
			` / sum(rate(http_server_request_duration_seconds_count[5m]))`, ratio(t, slo.SLI{Latency: latency}))
	}
	assert.Equal(t, "sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))",
		ratio(t, slo.SLI{Total: "requests_total", Bad: "errors_total"}))
	assert.Equal(t, "sum(rate(slow_total[5m])) / sum(rate(http_server_request_duration_seconds_count[5m]))",
		ratio(t, slo.SLI{Latency: time.Second, Bad: "slow_total"}), "a Bad selector wins over the latency default")
	assert.Equal(t, "1 - sum(rate(ok_total[5m])) / sum(rate(http_server_request_duration_seconds_count[5m]))",
		ratio(t, slo.SLI{Good: "ok_total"}))
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		slo  slo.SLO
		want string // in the error
	}{
		{slo.SLO{Objective: 0.999}, "Name"},
		{slo.SLO{Name: "checkout-api", Objective: 0.999}, `Name "checkout-api" must be letters, digits and underscores`},
		{slo.SLO{Name: "9s", Objective: 0.999}, "not starting with a digit"},
		{slo.SLO{Name: "api.v2", Objective: 0.999}, "Name"},
		{slo.SLO{Name: "api"}, "Objective is 0"},
		{slo.SLO{Name: "api", Objective: 1}, "Objective is 1"},
		{slo.SLO{Name: "api", Objective: 99.9}, "Objective is 99.9"},
		{slo.SLO{Name: "api", Objective: -0.5}, "Objective"},
		{slo.SLO{Name: "api", Objective: 0.9, Period: -time.Hour}, "Period"},
		{slo.SLO{Name: "api", Objective: 0.9, Period: time.Microsecond}, "Period"},
		{slo.SLO{Name: "api", Objective: 0.9, SLI: slo.SLI{Latency: -time.Second}}, "SLI.Latency"},
		{slo.SLO{Name: "api", Objective: 0.9, SLI: slo.SLI{Bad: "a", Good: "b"}}, "SLI.Bad and SLI.Good"},
	} {
		err := c.slo.Validate()
		require.ErrorIs(t, err, slo.ErrInvalid, "%+v", c.slo)
		assert.Contains(t, err.Error(), c.want)
		_, err = c.slo.PrometheusRules(nil)
		assert.ErrorIs(t, err, slo.ErrInvalid)
		_, err = c.slo.Alerts(nil, t0, nil)
		assert.ErrorIs(t, err, slo.ErrInvalid)
		_, err = c.slo.Budget(nil, t0)
		assert.ErrorIs(t, err, slo.ErrInvalid)
	}
	assert.NoError(t, slo.SLO{Name: "_Checkout_2", Objective: 0.5}.Validate())
}

func TestValidatePolicy(t *testing.T) {
	ok := slo.Window{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: slo.Page}
	for _, c := range []struct {
		edit func(*slo.Window)
		want string
	}{
		{func(w *slo.Window) { w.Long = 0 }, "Policy[1].Long"},
		{func(w *slo.Window) { w.Long = time.Hour + time.Microsecond }, "Policy[1].Long"},
		{func(w *slo.Window) { w.Short = -time.Minute }, "Policy[1].Short"},
		{func(w *slo.Window) { w.Short = w.Long }, "it must be shorter than Long"},
		{func(w *slo.Window) { w.Factor = 0 }, "Policy[1].Factor"},
		{func(w *slo.Window) { w.Factor = -1 }, "Policy[1].Factor"},
		{func(w *slo.Window) { w.Severity = "" }, "Policy[1].Severity"},
		{func(*slo.Window) {}, "Policy[1] has the windows and severity of Policy[0]"},
	} {
		w := ok
		c.edit(&w)
		policy := slo.Policy{ok, w}
		err := policy.Validate()
		require.ErrorIs(t, err, slo.ErrInvalid)
		assert.Contains(t, err.Error(), c.want)
		_, err = checkout.PrometheusRules(policy)
		assert.ErrorIs(t, err, slo.ErrInvalid)
		_, err = checkout.Alerts(nil, t0, policy)
		assert.ErrorIs(t, err, slo.ErrInvalid)
	}
	assert.NoError(t, slo.Policy(nil).Validate())
	assert.NoError(t, slo.DefaultPolicy().Validate())
	ticket := ok
	ticket.Severity = slo.Ticket
	assert.NoError(t, slo.Policy{ok, ticket}.Validate(), "same windows, another severity")
}

// Every rule name PrometheusRules writes is a valid Prometheus metric
// name, for any valid SLO name and any policy windows.
func TestRuleNames(t *testing.T) {
	policy := slo.Policy{
		{Long: 2 * day, Short: 90 * time.Minute, Factor: 1, Severity: "a"},
		{Long: 45 * time.Second, Short: 1500 * time.Millisecond, Factor: 1, Severity: "b"},
	}
	out, err := slo.SLO{Name: "_Checkout_2", Objective: 0.9}.PrometheusRules(policy)
	require.NoError(t, err)
	var file ruleFile
	require.NoError(t, yaml.Unmarshal(out, &file))
	var names []string
	for _, r := range file.Groups[0].Rules {
		if r.Record != "" {
			names = append(names, r.Record)
			assert.Equal(t, -1, strings.IndexFunc(r.Record, func(c rune) bool {
				return !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
			}), r.Record)
		}
	}
	assert.Equal(t, []string{
		"slo:_Checkout_2:error_ratio:rate1500ms", "slo:_Checkout_2:error_ratio:rate45s",
		"slo:_Checkout_2:error_ratio:rate90m", "slo:_Checkout_2:error_ratio:rate2d",
	}, names)
}
