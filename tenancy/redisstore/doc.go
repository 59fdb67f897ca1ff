// Package redisstore keeps tenancy's state that replicas share in Redis
// (github.com/redis/go-redis/v9): the token buckets of
// [tenancy.RateLimiter], so that any number of replicas together allow
// each limit once, and the usage counters of [tenancy.Metering], so that
// they count in the same counters and keep each plan's limits together.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	limiter, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{
//		Plans:  map[string]tenancy.Limit{"pro": {Rate: 50, Burst: 100}},
//		Shared: redisstore.New(rdb, redisstore.Options{}),
//	})
//	handler = reg.Middleware(limiter.Middleware(handler))
//
// # Buckets
//
// Each bucket is one key, prefix + "tenancy:rl:" + the limiter's key,
// holding its theoretical arrival time (GCRA) in Unix microseconds. One
// Lua script reads and moves it, so takes from many replicas are atomic;
// a key expires (PEXPIRE) when its bucket would be full again, so idle
// clients leave nothing behind. Every key lives in one slot, so the
// store works on Redis Cluster too. The time is the caller's
// (RateLimitOptions.Now): replicas' clocks should agree to well within
// 1/Rate.
//
// # Usage counters
//
// Each counter is one key, prefix + "tenancy:usage:" + the period
// ("month" or "day"), its start in Unix seconds, the metric and the
// tenant ID, joined by ':', holding the count in decimal. One Lua script
// checks the max and adds with INCRBY, exact to the last unit of an
// int64, so adds from many replicas are atomic and none takes a counter
// over its max. A counter expires (EXPIREAT) Options.UsageRetention
// after its period ends, 400 days by default; keep usage you bill from
// for longer in tenancy/sqlstore.
//
// # Failures
//
// A Redis error (down, timed out, a reply of the wrong shape) is
// returned, never a panic. RateLimiter then limits the request with its
// own process's bucket and logs a warning: it fails open to a per-replica
// limit. go-redis reconnects by itself, and the next take after Redis is
// back uses the shared bucket again.
package redisstore
