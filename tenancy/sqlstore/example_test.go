package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
)

// Two replicas' rate limiters take from the same buckets in the
// database, so a plan's burst is allowed once in all, not once per
// replica.
func ExampleStore_Take() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "saas.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := tenancy.RateLimitOptions{
		Plans:  map[string]tenancy.Limit{"free": {Rate: 1, Burst: 2}},
		Shared: st,
		Now:    func() time.Time { return now },
	}
	replicaA, _ := tenancy.NewRateLimiter(opts)
	replicaB, _ := tenancy.NewRateLimiter(opts)
	key := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme", Plan: "free"}, Subject: "key:k1"}
	for _, l := range []*tenancy.RateLimiter{replicaA, replicaB, replicaA} {
		ok, wait := l.AllowContext(ctx, key)
		fmt.Println(ok, wait)
	}
	// Output:
	// true 0s
	// true 0s
	// false 1s
}
