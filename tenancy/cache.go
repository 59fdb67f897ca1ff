package tenancy

import (
	"sync"
	"sync/atomic"
	"time"
)

// cache maps a key to a value or a cached error for a TTL. Reads are lock
// free (sync.Map) and read no clock when the time is the coarse one: a
// warm lookup costs about one map lookup, which is what lets tenant
// resolution run at map speed.
//
// Entries carry the generation of the Registry they came from; bumping
// the generation invalidates every cache of that Registry at once.
//
// Memory is bounded: past max entries the cache starts empty again, and
// misses (cached errors) are only kept while it is less than half full,
// so a flood of unknown names cannot evict the real tenants.
type cache[V any] struct {
	clock *clock
	gen   *atomic.Uint64
	ttl   int64 // nanoseconds
	max   int64
	m     atomic.Pointer[sync.Map]
	size  atomic.Int64
}

type cacheEntry[V any] struct {
	value   V
	err     error
	expires int64 // clock nanoseconds
	gen     uint64
}

func newCache[V any](c *clock, gen *atomic.Uint64, ttl time.Duration, max int) *cache[V] {
	cc := &cache[V]{clock: c, gen: gen, ttl: int64(ttl), max: int64(max)}
	cc.m.Store(new(sync.Map))
	return cc
}

// get returns the cached value or error for key; ok is false on a miss or
// an expired entry.
func (c *cache[V]) get(key string) (v V, err error, ok bool) {
	entry := c.entry(key)
	if entry == nil {
		return v, nil, false
	}
	return entry.value, entry.err, true
}

// entry returns the live entry for key, or nil.
func (c *cache[V]) entry(key string) *cacheEntry[V] {
	e, found := c.m.Load().Load(key)
	if !found {
		return nil
	}
	entry := e.(*cacheEntry[V])
	if entry.gen != c.gen.Load() || c.clock.nanos() >= entry.expires {
		return nil
	}
	return entry
}

// generation is read before a store lookup and handed to put, so a
// value read before a change made through the Registry is not cached
// after it.
func (c *cache[V]) generation() uint64 { return c.gen.Load() }

// put caches v (or err) for the TTL unless the Registry changed something
// since gen was read.
func (c *cache[V]) put(key string, v V, err error, gen uint64) {
	c.putUntil(key, v, err, gen, c.clock.nanos()+c.ttl)
}

// putUntil is put with an explicit expiry, for entries derived from
// other cached entries: they must not outlive their source.
func (c *cache[V]) putUntil(key string, v V, err error, gen uint64, expires int64) {
	if c.ttl <= 0 || gen != c.gen.Load() {
		return
	}
	n := c.size.Load()
	if err != nil && n >= c.max/2 {
		return
	}
	if n >= c.max {
		c.clear()
	}
	entry := &cacheEntry[V]{value: v, err: err, expires: expires, gen: gen}
	if _, loaded := c.m.Load().Swap(key, entry); !loaded {
		c.size.Add(1)
	}
}

func (c *cache[V]) clear() {
	c.m.Store(new(sync.Map))
	c.size.Store(0)
}

// clock is the time the caches read. With an injected Now it calls Now on
// every read (tests); otherwise it reads a coarse time that a background
// ticker refreshes, because calling time.Now costs five map lookups.
type clock struct {
	now    func() time.Time
	coarse atomic.Int64 // Unix nanoseconds, or clockStopped once closed
	stop   chan struct{}
	once   sync.Once
}

func newClock(now func() time.Time, resolution time.Duration) *clock {
	c := &clock{now: now, stop: make(chan struct{})}
	if now != nil {
		return c
	}
	c.coarse.Store(time.Now().UnixNano())
	go c.run(resolution)
	return c
}

func (c *clock) run(resolution time.Duration) {
	t := time.NewTicker(resolution)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			// Never overwrite the stopped mark set by a concurrent close.
			if old := c.coarse.Load(); old == clockStopped || !c.coarse.CompareAndSwap(old, now.UnixNano()) {
				return
			}
		}
	}
}

// nanos returns the current time in Unix nanoseconds.
func (c *clock) nanos() int64 {
	if v := c.coarse.Load(); v > 0 { // the ticker's time: small enough to inline
		return v
	}
	return c.exactNanos()
}

// exactNanos serves an injected clock, and a closed one, whose ticker no
// longer keeps the coarse time.
func (c *clock) exactNanos() int64 {
	if c.now != nil {
		return c.now().UnixNano()
	}
	return time.Now().UnixNano()
}

// clockStopped in the coarse time marks a closed clock.
const clockStopped = -1

// Now returns the current time, exact even when the caches read a coarse
// one.
func (c *clock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *clock) close() {
	c.once.Do(func() {
		close(c.stop)
		c.coarse.Store(clockStopped)
	})
}
