package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/memstore"
)

// Keep a tenant's trail in memory; another tenant's is separate.
func Example() {
	ctx := context.Background()
	trail, _ := audit.New(memstore.New(), audit.Options{Now: func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }})
	_, _ = trail.Append(ctx, "acme", audit.Record{Actor: "system", Action: "dsr.received"})
	acme, _ := trail.Verify(ctx, "acme")
	globex, _ := trail.Verify(ctx, "globex")
	fmt.Println(acme.OK, acme.Records, globex.Records)
	// Output: true 1 0
}
