package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Keep flags in SQLite, kill one as an operator, and read the audit
// trail.
func Example() {
	dir, _ := os.MkdirTemp("", "flags")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "flags.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	st, _ := sqlstore.New(db.DB, sqlstore.Options{})
	if err := st.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	f, _ := flags.RolloutFlag(flags.Rollout{Percent: 100})
	_ = st.PutFlag(ctx, "ada@example.com", "invoices-v2", f)
	_ = st.SetState(ctx, "ops@example.com", "invoices-v2", flags.Disabled)

	data, _ := st.Load(ctx)
	set, _ := flags.Parse(data)
	on, d := flags.NewEvaluator(set, flags.Options{}).Bool("invoices-v2", nil, false)
	fmt.Println(on, d.Reason)
	trail, _ := st.Audit(ctx, "flag", "invoices-v2", 10)
	for _, e := range trail {
		fmt.Println(e.Actor, e.Action)
	}
	// Output:
	// false DISABLED
	// ops@example.com set_state
	// ada@example.com put_flag
}
