package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/saaskit/saaskit/backup/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Two processes sharing a database: only one holds a job's lease.
func Example() {
	dir, _ := os.MkdirTemp("", "leases")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	leases, _ := sqlstore.New(db.DB, nil)
	if err := leases.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := leases.Acquire(ctx, "nightly", "host-a", time.Hour)
	b, _ := leases.Acquire(ctx, "nightly", "host-b", time.Hour)
	fmt.Println(a, b)
	// Output: true false
}
