package flags_test

import (
	"context"
	"fmt"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/saaskit/saaskit/flags"
)

// Evaluate a flagd definition directly.
func ExampleEvaluator() {
	set, err := flags.Parse([]byte(`{"flags": {"checkout": {
		"state": "ENABLED",
		"variants": {"new": "v2", "old": "v1"},
		"defaultVariant": "old",
		"targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "new"]}
	}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := flags.NewEvaluator(set, flags.Options{})
	v, d := ev.String("checkout", map[string]any{"email": "ada@example.com"}, "v0")
	fmt.Println(v, d.Variant, d.Reason)
	v, d = ev.String("checkout", map[string]any{"email": "bob@elsewhere.org"}, "v0")
	fmt.Println(v, d.Variant, d.Reason)
	// Output:
	// v2 new TARGETING_MATCH
	// v1 old DEFAULT
}

// Roll a feature out to the internal ring, then to 25% of other tenants,
// then kill it.
func ExampleRolloutFlag() {
	d := flags.Definitions{Flags: map[string]flags.Flag{}}
	_ = d.SetRing("internal", "", "acme")
	f, _ := flags.RolloutFlag(flags.Rollout{Ring: "internal", Percent: 25})
	d.Flags["invoices-v2"] = f
	set, err := flags.Compile(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := flags.NewEvaluator(set, flags.Options{})
	in := 0
	for i := range 1000 {
		if on, _ := ev.Bool("invoices-v2", map[string]any{"tenantId": fmt.Sprint("tenant-", i)}, false); on {
			in++
		}
	}
	acme, _ := ev.Bool("invoices-v2", map[string]any{"tenantId": "acme"}, false)
	fmt.Println("acme:", acme, "others near 25%:", in > 200 && in < 300)

	_ = ev.SetState("invoices-v2", flags.Disabled)
	acme, detail := ev.Bool("invoices-v2", map[string]any{"tenantId": "acme"}, false)
	fmt.Println("after the kill switch:", acme, detail.Reason)
	// Output:
	// acme: true others near 25%: true
	// after the kill switch: false DISABLED
}

// Serve flags through OpenFeature.
func ExampleNewProvider() {
	set, _ := flags.Parse([]byte(`{"flags": {"dark-mode": {"state": "ENABLED",
		"variants": {"on": true, "off": false}, "defaultVariant": "off",
		"targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on"]}}}}`))
	api := isolated.NewAPI() // or the global openfeature.SetProviderAndWait
	ctx := context.Background()
	if err := api.SetProviderAndWait(ctx, flags.NewProvider(flags.NewEvaluator(set, flags.Options{}), flags.ProviderOptions{})); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = api.Shutdown(ctx) }()
	client := api.NewClient()
	d, _ := client.BooleanValueDetails(ctx, "dark-mode", false, openfeature.NewEvaluationContext("user-1", map[string]any{"plan": "pro"}))
	fmt.Println(d.Value, d.Variant, d.Reason)
	// Output: true on TARGETING_MATCH
}
