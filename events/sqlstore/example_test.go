package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/sqlopen"
)

// Events written in the application's transaction wait in the outbox
// until a relay publishes them.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "events")
	defer os.RemoveAll(dir)
	db, err := sqlopen.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	st, _ := sqlstore.New(db)
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, `CREATE TABLE users (id TEXT)`)
	_, _ = tx.ExecContext(ctx, `INSERT INTO users VALUES ('42')`)
	e := &events.Event{TenantID: "acme", Type: "user.created", AggregateKey: "user/42", SubjectKey: "42"}
	if err := st.AppendTx(ctx, tx, e); err != nil {
		panic(err)
	}
	if err := tx.Commit(); err != nil {
		panic(err)
	}
	n, _ := st.Pending(ctx)
	fmt.Println(n, e.AggregateSeq)
	// Output: 1 1
}
