package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	_ "modernc.org/sqlite"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/sqlstore"
)

// A keyring whose wrapped keys and tombstones live in SQLite (or
// PostgreSQL): shared by every replica, and kept across restarts.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "keys.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	st, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}
	uri, _ := fakekms.NewKeyURI() // a service uses localkms or a cloud KMS
	root, _ := fakekms.NewAEAD(uri)
	k, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	if err != nil {
		panic(err)
	}
	defer k.Close()
	scope := skcrypto.Scope{Tenant: "acme", Subject: "usr_ada"}
	ct, _ := k.Encrypt(ctx, scope, []byte("ada@example.com"), nil)
	pt, err := k.Decrypt(ctx, scope, ct, nil)
	fmt.Println(string(pt), err)
	// Output: ada@example.com <nil>
}
