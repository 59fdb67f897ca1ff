// Package redisstore keeps webhook's state that processes share in
// Redis (github.com/redis/go-redis/v9): the receiver's replay protection
// ([webhook.SeenStore]) and the senders' per-endpoint rate limits
// ([webhook.RateLimiter]).
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	st := redisstore.New(rdb, redisstore.Options{})
//	// Receivers: a message accepted by one replica is a replay to all.
//	mux.Handle("POST /webhooks", webhook.Receiver(v, webhook.ReceiverOptions{Seen: st})(handler))
//	// Senders: every worker books an endpoint's deliveries from one schedule.
//	err = d.Run(ctx, webhook.WorkerOptions{RateLimiter: st})
//
// # Replay protection
//
// MarkSeen is one command, SET prefix+"webhook:seen:"+id 1 NX PXAT
// until: of any number of receivers marking one id at once, exactly one
// sees it new, and Redis drops the key when its time is up (by Redis's
// clock). Forget is DEL. When Redis fails, MarkSeen returns the error
// and webhook.Receiver refuses the message with 503: replay protection
// fails closed, and the sender retries later.
//
// # Rate limits
//
// Reserve books an endpoint's next slot with one Lua script over
// prefix+"webhook:rl:"+endpoint (GCRA, the same schedule and answers as
// webhook/sqlstore's Reserve); the key expires once its booked slots
// have passed. When Redis fails, the worker spaces its own deliveries
// and logs a warning. Every key lives in one slot, so the store works on
// Redis Cluster too.
//
// A Redis error (down, timed out, a reply of the wrong shape) is
// returned, never a panic; go-redis reconnects by itself.
package redisstore
