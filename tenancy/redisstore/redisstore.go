package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/internal/gcra"
	"github.com/saaskit/saaskit/tenancy"
)

// Options configure a Store. The zero value is a sensible default.
type Options struct {
	// Prefix starts every key the store writes, so that applications and
	// environments can share a server. Default "saaskit:".
	Prefix string
}

// Store is a tenancy.LimitStore on Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ tenancy.LimitStore = (*Store)(nil)

// New returns a Store that keeps its buckets through client (a
// *redis.Client, *redis.ClusterClient or other UniversalClient).
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "saaskit:"
	}
	return &Store{client: client, prefix: opts.Prefix + "tenancy:rl:"}
}

// take is GCRA on one key. KEYS[1] is the bucket; ARGV are now, the
// interval between tokens and the tolerance, in microseconds. It
// returns {1, 0} for a token, or {0, wait} with the microseconds until
// one. Numbers are written with %d: Lua would print a 16-digit time with
// %.14g and lose its last digits.
var take = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if tat - now > tolerance then return {0, tat - now - tolerance} end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', math.ceil((tat - now) / 1000)))
return {1, 0}
`)

// Take implements tenancy.LimitStore in one round trip. Times are kept
// in whole microseconds (a rate above a million a second counts as a
// million).
func (s *Store) Take(ctx context.Context, key string, limit tenancy.Limit, now time.Time) (bool, time.Duration, error) {
	p, err := gcra.Of(limit.Rate, limit.Burst)
	if err != nil {
		return false, 0, fmt.Errorf("tenancy redisstore: %w: %w", tenancy.ErrInvalid, err)
	}
	res, err := take.Run(ctx, s.client, []string{s.prefix + key}, now.UnixMicro(), p.Interval, p.Tolerance).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("tenancy redisstore: rate limit: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("tenancy redisstore: rate limit: reply of %d numbers, want 2", len(res))
	}
	return res[0] == 1, gcra.Duration(res[1]), nil
}
