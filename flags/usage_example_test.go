package flags_test

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/tenancy"
)

// Target tenants by their usage this month: tenancy.Metering's
// Middleware puts it in the request context, and TenantContext puts it
// in the evaluation context as tenantUsage.
func ExampleTenantContext_usage() {
	set, err := flags.Parse([]byte(`{"flags": {"upgrade-banner": {
		"state": "ENABLED",
		"variants": {"on": true, "off": false},
		"defaultVariant": "off",
		"targeting": {"if": [{">": [{"var": "tenantUsage.api_calls"}, 800]}, "on"]}
	}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := flags.NewEvaluator(set, flags.Options{})
	for _, used := range []int64{120, 950} {
		ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "free"})
		ctx = tenancy.WithUsage(ctx, map[string]int64{"api_calls": used})
		on, d := ev.Bool("upgrade-banner", flags.TenantContext(ctx, nil), false)
		fmt.Println(used, on, d.Reason)
	}
	// Output:
	// 120 false DEFAULT
	// 950 true TARGETING_MATCH
}
