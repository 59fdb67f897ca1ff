package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/internal/gcra"
	"github.com/saaskit/saaskit/webhook"
)

// Options configure a Store. The zero value is a sensible default.
type Options struct {
	// Prefix starts every key the store writes, so that applications and
	// environments can share a server. Default "saaskit:".
	Prefix string
}

// Store is a webhook.SeenStore and webhook.RateLimiter on Redis.
type Store struct {
	client redis.UniversalClient
	seen   string // key prefix of seen ids
	rate   string // key prefix of rate-limit schedules
}

var (
	_ webhook.SeenStore   = (*Store)(nil)
	_ webhook.RateLimiter = (*Store)(nil)
)

// New returns a Store that keeps its state through client (a
// *redis.Client, *redis.ClusterClient or other UniversalClient).
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "saaskit:"
	}
	return &Store{client: client, seen: opts.Prefix + "webhook:seen:", rate: opts.Prefix + "webhook:rl:"}
}

// MarkSeen implements webhook.SeenStore with one SET NX PXAT: the id is
// new if no key held it, and its key expires at until, by Redis's clock.
func (s *Store) MarkSeen(ctx context.Context, id string, until time.Time) (bool, error) {
	cmd := redis.NewStatusCmd(ctx, "set", s.seen+id, "1", "nx", "pxat", max(until.UnixMilli(), 1))
	err := s.client.Process(ctx, cmd)
	switch {
	case errors.Is(err, redis.Nil): // NX: the key is there
		return false, nil
	case err != nil:
		return false, fmt.Errorf("webhook redisstore: mark seen: %w", err)
	case cmd.Val() != "OK":
		return false, fmt.Errorf("webhook redisstore: mark seen: unexpected reply %q", cmd.Val())
	}
	return true, nil
}

// Forget implements webhook.SeenStore.
func (s *Store) Forget(ctx context.Context, id string) error {
	if err := s.client.Del(ctx, s.seen+id).Err(); err != nil {
		return fmt.Errorf("webhook redisstore: forget seen: %w", err)
	}
	return nil
}

// reserve is GCRA booking on one key. KEYS[1] is the endpoint's
// schedule: the time its next free slot begins. ARGV are now, the
// interval between slots, and the latest start to book (now+maxWait),
// in microseconds. It returns {1, wait} having booked a slot wait after
// now, or {0, wait} with the time until the booked slots run out.
// Numbers are written with %d: Lua would print a 16-digit time with
// %.14g and lose its last digits.
var reserve = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local latest = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if tat > latest then return {0, tat - now} end
local nexttat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', nexttat), 'PX', string.format('%d', math.ceil((nexttat - now) / 1000)))
return {1, tat - now}
`)

// Reserve implements webhook.RateLimiter in one round trip, with the
// semantics of webhook/sqlstore's Reserve: every process sharing the
// server books from one schedule per endpoint; their clocks should
// agree to well within 1/perSecond.
func (s *Store) Reserve(ctx context.Context, endpointID string, perSecond float64, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	if !(perSecond > 0) {
		return 0, true, nil
	}
	// Microseconds between slots, rounded up so as never to exceed the
	// limit, and at most the interval of webhook.MinRateLimit.
	interval := max(int64(math.Ceil(1e6/max(perSecond, webhook.MinRateLimit))), 1)
	at := now.UnixMicro()
	res, err := reserve.Run(ctx, s.client, []string{s.rate + endpointID}, at, interval, at+max(maxWait.Microseconds(), 0)).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("webhook redisstore: rate limit of endpoint %s: %w", endpointID, err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("webhook redisstore: rate limit of endpoint %s: reply of %d numbers, want 2", endpointID, len(res))
	}
	return gcra.Duration(res[1]), res[0] == 1, nil
}
