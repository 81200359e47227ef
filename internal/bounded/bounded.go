// Package bounded is a map for caches that must not grow without bound:
// the JWTs a node verified and the exact memo of those it just minted
// (internal/keys).
package bounded

import (
	"sync"
	"time"
)

// Map is safe for concurrent use and holds at most max entries. Past the
// bound, Put drops the entries stale says are stale (at most once a
// second, as that walks the map), and if that is not enough, arbitrary
// ones, down to nine tenths of the bound. The entry just put is always
// kept.
type Map[K comparable, V any] struct {
	mu    sync.Mutex
	m     map[K]V
	max   int
	stale func(v V, now time.Time) bool
	swept time.Time // when stale entries were last dropped
}

// New returns an empty Map of at most max entries.
func New[K comparable, V any](max int, stale func(v V, now time.Time) bool) *Map[K, V] {
	return &Map[K, V]{m: map[K]V{}, max: max, stale: stale}
}

// Get returns the entry of k, if any.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// Put stores v for k.
func (c *Map[K, V]) Put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		if now.Sub(c.swept) >= time.Second || now.Before(c.swept) {
			c.swept = now
			for k, e := range c.m {
				if c.stale(e, now) {
					delete(c.m, k)
				}
			}
		}
		for k := range c.m {
			if len(c.m) < c.max*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = v
}

// Len is the number of entries.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
