package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Keep requests durably, so an erasure interrupted by a restart resumes.
func Example() {
	dir, _ := os.MkdirTemp("", "dsr")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	st, _ := sqlstore.New(db.DB)
	if err := st.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	e, _ := gdpr.New(st, gdpr.Options{})
	r, _ := e.Submit(ctx, "acme", gdpr.Access, gdpr.CCPA, gdpr.Subject{Identities: []gdpr.Identity{{Kind: "email", Value: "ada@example.com"}}}, "email")
	got, _ := st.Get(ctx, "acme", r.ID)
	fmt.Println(got.State, got.Regime, got.DueAt.Sub(got.ReceivedAt).Hours()/24, "days")
	// Output: received ccpa 45 days
}
