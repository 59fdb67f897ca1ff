package memstore_test

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// A registry over the in-memory store, for tests and examples: it keeps
// tenants and their API keys in the process.
func Example() {
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	ctx := context.Background()
	created, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		panic(err)
	}
	got, err := reg.Get(ctx, created.ID)
	fmt.Println(got.Slug, got.Plan, err)
	// Output: acme pro <nil>
}
