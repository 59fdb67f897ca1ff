package sqlitecheck_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/backup/sqlitecheck"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Check a restored database file.
func ExampleIntegrity() {
	dir, _ := os.MkdirTemp("", "restored")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "restored.db")
	db, _ := sqldb.Open(context.Background(), "sqlite:"+path)
	_, _ = db.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
	db.Close()
	fmt.Println(sqlitecheck.Integrity(context.Background(), path))
	// Output: <nil>
}

// Check a restored database and that it holds what the application
// needs.
func ExampleQuery() {
	dir, _ := os.MkdirTemp("", "restored")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "restored.db")
	db, _ := sqldb.Open(context.Background(), "sqlite:"+path)
	_, _ = db.Exec("CREATE TABLE tenants (id TEXT); INSERT INTO tenants VALUES ('acme')")
	db.Close()
	check := sqlitecheck.Query("SELECT 1 FROM tenants WHERE id = ?", "acme")
	fmt.Println(check(context.Background(), path))
	fmt.Println(sqlitecheck.Query("SELECT 1 FROM tenants WHERE id = ?", "globex")(context.Background(), path))
	// Output:
	// <nil>
	// check query "SELECT 1 FROM tenants WHERE id = ?" returned no row
}
