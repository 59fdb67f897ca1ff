package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/sqlstore"
)

// Keep the audit trail in SQLite; PostgreSQL works the same through
// pgx's database/sql driver.
func Example() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := sqlstore.New(db)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	trail, _ := audit.New(store, audit.Options{})
	rec, err := trail.Append(ctx, "acme", audit.Record{Actor: "system", Action: "retention.swept",
		Details: map[string]string{"category": "support tickets", "deleted": "118"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	last, _ := store.Last(ctx, "acme")
	fmt.Println(last.Seq, last.Details["deleted"], last.Hash == rec.Hash)
	// Output: 1 118 true
}
