package memstore_test

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/memstore"
)

// Keep requests and legal holds in memory, for a test or an example.
func Example() {
	ctx := context.Background()
	st := memstore.New()
	e, _ := gdpr.New(st, gdpr.Options{Holds: st})
	r, _ := e.Submit(ctx, "acme", gdpr.Access, gdpr.GDPR, gdpr.Subject{Identities: []gdpr.Identity{{Kind: "email", Value: "ada@example.com"}}}, "email")
	got, _ := st.Get(ctx, "acme", r.ID)
	fmt.Println(got.State, got.Regime)
	_, err := st.Get(ctx, "globex", r.ID)
	fmt.Println(err != nil)
	// Output:
	// received gdpr
	// true
}
