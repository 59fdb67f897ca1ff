package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/memstore"
)

// A purpose and its first notice, stored and read back for the tenant
// only.
func Example() {
	ctx := context.Background()
	st := memstore.New()
	p := &consent.Purpose{TenantID: "acme", Key: "newsletter", Description: "Monthly product news", Lifetime: 365 * 24 * time.Hour}
	_ = st.SavePurpose(ctx, p, &consent.Notice{Version: 1, Language: "en", Text: "We send news monthly."})
	mine, _ := st.Purposes(ctx, "acme")
	theirs, _ := st.Purposes(ctx, "globex")
	fmt.Println(len(mine), mine[0].Revision, len(mine[0].Notices), len(theirs))
	// Output: 1 1 1 0
}
