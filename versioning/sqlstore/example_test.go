package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/versioning/sqlstore"
)

// Pin a tenant to the version current at its first request.
func Example() {
	dir, _ := os.MkdirTemp("", "pins")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "pins.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	pins, _ := sqlstore.New(db.DB)
	if err := pins.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_ = pins.SetPin(ctx, "acme", "2024-06-01")
	v, _ := pins.Pin(ctx, "acme")
	fmt.Println(v)
	// Output: 2024-06-01
}
