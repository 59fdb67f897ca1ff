package crypto

import (
	"context"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// Caches of unwrapped keys follow three rules:
//
//   - A shred bumps its tenant's generation; a key loaded before the bump
//     is not cached after it, so a load racing a shred cannot put a
//     shredded key back (see putCached).
//   - A cached key re-reads its tombstones every TombstoneCheckInterval,
//     so a shred made by another process takes effect here within that
//     interval (see stillAlive).
//   - A full cache evicts one entry, not all: usage counts of data keys
//     survive other scopes coming and going.

// liveness records when a cached key last read its tombstones.
type liveness struct {
	checked atomic.Int64 // Unix nanoseconds
}

// due reports whether the key should re-read its tombstones.
func (l *liveness) due(k *Keyring, now time.Time) bool {
	return now.UnixNano()-l.checked.Load() >= int64(k.opts.TombstoneCheckInterval)
}

// stillAlive re-reads the key's tombstones when they are due.
func (k *Keyring) stillAlive(ctx context.Context, tenant, id string, l *liveness, now time.Time) error {
	if !l.due(k, now) {
		return nil
	}
	if err := k.checkAlive(ctx, tenant, id); err != nil {
		return err
	}
	l.checked.Store(now.UnixNano())
	return nil
}

// generation returns the tenant's shred generation.
func (k *Keyring) generation(tenant string) uint64 {
	k.cacheMu.RLock()
	defer k.cacheMu.RUnlock()
	return k.gens[tenant]
}

// putCached caches v under key unless the tenant was shredded since gen
// was read; a full cache first evicts one entry.
func putCached[K comparable, V any](k *Keyring, cache map[K]V, key K, v V, tenant string, gen uint64) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	if k.gens[tenant] != gen {
		return
	}
	if _, ok := cache[key]; !ok && len(cache) >= k.opts.CacheSize {
		for old := range cache {
			delete(cache, old)
			break
		}
	}
	cache[key] = v
}

// tenantLock returns the mutex that serialises creating and changing the
// tenant's keys. Locks are striped, so tenants do not wait for each
// other's KMS calls (except on a shared stripe) and memory stays bounded.
func (k *Keyring) tenantLock(tenant string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return &k.locks[h.Sum32()%uint32(len(k.locks))]
}
