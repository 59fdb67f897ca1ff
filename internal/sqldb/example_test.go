package sqldb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/internal/sqldb"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqldb-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	db, err := sqldb.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	migrations := []sqldb.Migration{
		{Version: 1, Name: "init", SQL: "CREATE TABLE settings (tenant TEXT, key TEXT, value " + db.Dialect.JSONType() + ", PRIMARY KEY (tenant, key))"},
	}
	if err := db.Migrate(ctx, "example", migrations); err != nil {
		fmt.Println(err)
		return
	}

	upsert := db.Dialect.Upsert("settings", []string{"tenant", "key"}, []string{"tenant", "key", "value"})
	for _, v := range []string{`{"theme":"light"}`, `{"theme":"dark"}`} {
		if _, err := db.ExecContext(ctx, upsert, "acme", "ui", v); err != nil {
			fmt.Println(err)
			return
		}
	}
	var value string
	err = db.QueryRowContext(ctx, db.Dialect.Rebind("SELECT value FROM settings WHERE tenant = ? AND key = ?"), "acme", "ui").Scan(&value)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(db.Dialect, value)
	fmt.Println(sqldb.Postgres.Rebind("SELECT value FROM settings WHERE tenant = ? AND key = ?"))
	// Output:
	// sqlite {"theme":"dark"}
	// SELECT value FROM settings WHERE tenant = $1 AND key = $2
}
