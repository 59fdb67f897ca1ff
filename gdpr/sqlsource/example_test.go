package sqlsource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/gdpr/sqlsource"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Erase a user's rows from an application table.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "gdpr")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE notes (id TEXT PRIMARY KEY, tenant_id TEXT, user_id TEXT, body TEXT)`)
	_, _ = db.Exec(`INSERT INTO notes VALUES ('n1', 'acme', 'usr_ada', 'call Charles'), ('n2', 'acme', 'usr_bob', 'lunch')`)

	notes, err := sqlsource.New(db.DB, sqlsource.Table{Table: "notes", IdentityColumn: "user_id", IdentityKind: "user_id"})
	if err != nil {
		fmt.Println(err)
		return
	}
	e, _ := gdpr.New(memstore.New(), gdpr.Options{}, notes)
	ada := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}}}
	r, _ := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "web form")
	r, _ = e.Verify(ctx, "acme", r.ID)
	r, err = e.Process(ctx, "acme", r.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.State, r.Steps["notes"].Records, r.Steps["notes"].Note)
	var left int
	_ = db.QueryRow("SELECT count(*) FROM notes").Scan(&left)
	fmt.Println("notes left:", left)
	// Output:
	// completed 1 rows deleted
	// notes left: 1
}
