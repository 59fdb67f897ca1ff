package redisstore_test

import (
	"context"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/redisstore"
)

// Receivers on every replica refuse a message that any of them accepted,
// and workers in every process book each endpoint's deliveries from one
// schedule. (Compiled, not run: it needs a Redis server.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	st := redisstore.New(rdb, redisstore.Options{Prefix: "myapp:"})

	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	http.Handle("POST /webhooks", webhook.Receiver(v, webhook.ReceiverOptions{Seen: st})(handler))

	var d *webhook.Dispatcher // made with webhook.NewDispatcher
	if d != nil {
		_ = d.Run(context.Background(), webhook.WorkerOptions{RateLimiter: st})
	}
}
