package redisstore_test

import (
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/redisstore"
)

// Every replica's RateLimiter takes from the same buckets in Redis, so
// the plans' limits hold across them. (Compiled, not run: it needs a
// Redis server.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	limiter, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{
		Plans:  map[string]tenancy.Limit{"free": {Rate: 5, Burst: 10}, "pro": {Rate: 50, Burst: 100}},
		Shared: redisstore.New(rdb, redisstore.Options{Prefix: "myapp:"}),
	})
	if err != nil {
		panic(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	// After the registry's Middleware, which resolves the tenant.
	_ = limiter.Middleware(api)
}
