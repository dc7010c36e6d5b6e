package authorizer

import (
	"sync"
	"time"
)

// Cache holds authorizer results by authorizer and identity-source values for their TTL (AUTHORIZERS.md §4). A
// cached result is its policy, evaluated again for each request's method ARN. Bounded: when full, expired
// entries go first, then everything (a refill costs one authorizer call per identity).
type Cache struct {
	mu  sync.RWMutex
	m   map[string]cacheEntry
	max int
}

type cacheEntry struct {
	res     *Result
	expires time.Time
}

// DefaultCacheEntries bounds a processor's authorizer cache.
const DefaultCacheEntries = 65536

// maxCacheKeyBytes: identities longer than this are not cached (they are still authorized), so the cache's
// memory stays bounded by entries × this.
const maxCacheKeyBytes = 4096

// NewCache returns a cache of at most maxEntries results (DefaultCacheEntries when ≤ 0).
func NewCache(maxEntries int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &Cache{m: make(map[string]cacheEntry), max: maxEntries}
}

// get returns the live result cached under key. It allocates nothing (the map lookup converts key in place).
func (c *Cache) get(key []byte, now time.Time) *Result {
	c.mu.RLock()
	e, ok := c.m[string(key)]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return e.res
}

func (c *Cache) put(key []byte, res *Result, now, expires time.Time) {
	if len(key) > maxCacheKeyBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[string(key)] = cacheEntry{res: res, expires: expires}
}

// Len is the number of entries, expired ones included.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
