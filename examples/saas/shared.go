package main

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/tenancy"
	tenancyredis "github.com/saaskit/saaskit/tenancy/redisstore"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/webhook"
	webhookredis "github.com/saaskit/saaskit/webhook/redisstore"
	webhookstore "github.com/saaskit/saaskit/webhook/sqlstore"
)

// sharedState is what every replica must see at once: tenants' rate
// limits, endpoints' rate limits and the inbound webhooks already
// accepted. It lives in Redis when the demo is given one, else in the
// database.
type sharedState struct {
	limits         tenancy.LimitStore
	endpointLimits webhook.RateLimiter
	seen           webhook.SeenStore
}

// openShared returns the shared state in Redis at redisURL, or in the
// database when redisURL is empty, and what closes it.
func openShared(redisURL string, tenants *sqlstore.Store, hooks *webhookstore.Store) (sharedState, func() error, error) {
	if redisURL == "" {
		return sharedState{limits: tenants, endpointLimits: hooks, seen: hooks.Seen(webhookstore.SeenOptions{})}, func() error { return nil }, nil
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return sharedState{}, nil, fmt.Errorf("-redis: %w", err)
	}
	client := redis.NewClient(opts)
	hookState := webhookredis.New(client, webhookredis.Options{})
	return sharedState{limits: tenancyredis.New(client, tenancyredis.Options{}), endpointLimits: hookState, seen: hookState}, client.Close, nil
}
