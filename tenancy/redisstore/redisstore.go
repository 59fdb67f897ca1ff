package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// UsageRetention is how long a usage counter is kept after its
	// period ends, for billing and history. Default 400 days.
	UsageRetention time.Duration
}

// Store is a tenancy.LimitStore and a tenancy.UsageStore on Redis.
type Store struct {
	client    redis.UniversalClient
	prefix    string // of rate-limit buckets
	usage     string // prefix of usage counters
	retention time.Duration
}

var (
	_ tenancy.LimitStore = (*Store)(nil)
	_ tenancy.UsageStore = (*Store)(nil)
)

// New returns a Store that keeps its buckets through client (a
// *redis.Client, *redis.ClusterClient or other UniversalClient).
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "saaskit:"
	}
	if opts.UsageRetention <= 0 {
		opts.UsageRetention = 400 * 24 * time.Hour
	}
	return &Store{client: client, prefix: opts.Prefix + "tenancy:rl:", usage: opts.Prefix + "tenancy:usage:",
		retention: opts.UsageRetention}
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

// addUsage adds to one usage counter, KEYS[1], unless that takes it over
// a max. ARGV are n, max-n (0 or more) and the Unix second the key
// expires at. It returns {1, total} when it added, {0, total} when it
// did not, the total as a decimal string: Lua's numbers are doubles,
// which would round a count above 2^53, so the count is compared as a
// string of digits (the longer is greater; of equal lengths, the
// greater in byte order) and INCRBY, exact in Redis, adds. A key whose
// expiry has passed when written (a late add to an old period) lives
// another minute rather than vanish at once.
var addUsage = redis.NewScript(`
local used = redis.call('GET', KEYS[1]) or '0'
local room = ARGV[2]
if #used > #room or (#used == #room and used > room) then return {0, used} end
redis.call('INCRBY', KEYS[1], ARGV[1])
local at = math.max(tonumber(ARGV[3]), tonumber(redis.call('TIME')[1]) + 60)
redis.call('EXPIREAT', KEYS[1], string.format('%d', at))
return {1, redis.call('GET', KEYS[1])}
`)

// usageKey is the Redis key of a usage counter: the prefix, the period,
// its start, the metric and the tenant (last: a metric has no ':').
func (s *Store) usageKey(k tenancy.UsageKey) string {
	return s.usage + k.Period.String() + ":" + strconv.FormatInt(k.Start.Unix(), 10) + ":" + k.Metric + ":" + k.TenantID
}

// AddUsage implements tenancy.UsageStore in one round trip (a Lua
// script). A counter expires Options.UsageRetention after its period
// ends.
func (s *Store) AddUsage(ctx context.Context, key tenancy.UsageKey, n, max int64) (int64, bool, error) {
	if err := tenancy.CheckUsageAdd(key, n, max); err != nil {
		return 0, false, fmt.Errorf("add usage: %w", err)
	}
	if n > max { // cannot fit even in an empty counter
		total, err := s.Usage(ctx, key)
		return total, false, err
	}
	expire := key.Period.Next(key.Start).Add(s.retention).Unix()
	res, err := addUsage.Run(ctx, s.client, []string{s.usageKey(key)}, n, max-n, expire).Slice()
	if err != nil {
		return 0, false, fmt.Errorf("tenancy redisstore: add usage: %w", err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("tenancy redisstore: add usage: reply of %d values, want 2", len(res))
	}
	added, _ := res[0].(int64)
	digits, _ := res[1].(string)
	total, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("tenancy redisstore: add usage: total %q: %w", digits, err)
	}
	return total, added == 1, nil
}

// Usage implements tenancy.UsageStore.
func (s *Store) Usage(ctx context.Context, key tenancy.UsageKey) (int64, error) {
	if err := key.Check(); err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	total, err := s.client.Get(ctx, s.usageKey(key)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tenancy redisstore: usage: %w", err)
	}
	return total, nil
}
