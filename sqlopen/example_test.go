package sqlopen_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/sqlopen"
	tenancysqlstore "github.com/saaskit/saaskit/tenancy/sqlstore"
)

// One database for every store: open it once, hand it to each store,
// and let each create its tables.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlopen.Open(ctx, "sqlite:"+filepath.Join(dir, "saas.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	tenants, err := tenancysqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := tenants.Migrate(ctx); err != nil {
		panic(err)
	}
	d, _ := sqlopen.DialectOf(db)
	fmt.Println(d == sqlopen.SQLite, d.Rebind("SELECT ? + ?"))
	_, err = sqlopen.Open(ctx, "mysql://localhost/db")
	fmt.Println(errors.Is(err, sqlopen.ErrUnsupported))
	// Output:
	// true SELECT ? + ?
	// true
}
