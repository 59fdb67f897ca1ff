package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// Receivers on every replica share one record of the webhook ids they
// accepted, so a message replayed to another replica is refused there
// too. (Give it to webhook.Receiver as ReceiverOptions.Seen.)
func ExampleStore_Seen() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(dir, "webhooks.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	st, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}

	seen := st.Seen(sqlstore.SeenOptions{})
	until := time.Now().Add(5 * time.Minute) // the message's timestamp plus the tolerance
	for range 2 {
		fresh, err := seen.MarkSeen(ctx, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", until)
		fmt.Println(fresh, err)
	}
	// Output:
	// true <nil>
	// false <nil>
}
