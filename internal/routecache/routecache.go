// Package routecache remembers verified route data (ir.RouteMetadataKey values) so that each distinct value is
// verified and decoded once, not once per request: the ext_proc service and the ext_authz service both read it on
// every request.
package routecache

import (
	"sync"

	"github.com/proxyplus/proxyplus/ir"
)

// Size bounds a Cache: it starts over once it holds this many values.
const Size = 4096

// Cache maps route data values to what they decode to. It holds only what Envoy sent on earlier requests (the key
// is the value itself, signature included, so a changed route is a new key), never a copy of the definitions and
// never a value that failed verification. The zero Cache is empty and ready.
type Cache struct {
	mu sync.RWMutex
	m  map[string]*ir.ProcessorRoute
}

// Decode is ir.DecodeProcessorRoute(v, keys), remembered for a v that verifies.
func (c *Cache) Decode(v string, keys ir.RouteKeys) (*ir.ProcessorRoute, error) {
	c.mu.RLock()
	pr := c.m[v]
	c.mu.RUnlock()
	if pr != nil {
		return pr, nil
	}
	pr, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= Size {
		c.m = make(map[string]*ir.ProcessorRoute)
	}
	c.m[v] = pr
	c.mu.Unlock()
	return pr, nil
}
