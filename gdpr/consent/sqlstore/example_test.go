package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Keep the consent ledger in SQLite.
func Example() {
	dir, _ := os.MkdirTemp("", "consent")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "consent.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, _ := sqlstore.New(db.DB)
	if err := store.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ledger, _ := consent.New(store, consent.Options{})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "marketing-email"})
	n, _ := ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "marketing-email", Language: "en", Text: "Newsletter?"})
	_, err = ledger.Grant(ctx, "acme", "usr_ada", "marketing-email", consent.Grant{NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "signup-form"})
	if err != nil {
		fmt.Println(err)
		return
	}
	states, _ := ledger.Subject(ctx, "acme", "usr_ada")
	for _, s := range states {
		fmt.Println(s.Purpose, s.Status, s.Event.Seq)
	}
	// Output: marketing-email granted 1
}
