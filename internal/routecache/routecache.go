// Package routecache remembers verified route data (ir.RouteMetadataKey values) so that each distinct value is
// verified and decoded once, not once per request: the ext_proc service and the ext_authz service both read it on
// every request.
package routecache

import (
	"sync"
	"sync/atomic"

	"github.com/proxyplus/proxyplus/ir"
)

// Size bounds a Cache: it starts over once it holds this many values.
const Size = 4096

// Cache maps route data values to what they decode to. It holds only what Envoy sent on earlier requests (the key
// is the value itself, signature included, so a changed route is a new key), never a copy of the definitions and
// never a value that failed verification. The zero Cache is empty and ready.
type Cache struct {
	mu sync.RWMutex
	m  map[string]*entry
	// deployments are the verified ir.DeploymentMetadataKey values, one per API and generation.
	deployments map[string]*ir.APIDeployments
}

// entry is one verified route value and, for route data that takes its deployment id from the API's deployment
// value, the route joined with the deployment value it last came with (in one generation of the configuration
// every request of a route brings the same one).
type entry struct {
	pr       *ir.ProcessorRoute
	deployed atomic.Pointer[deployedRoute]
}

type deployedRoute struct {
	deployment string
	pr         *ir.ProcessorRoute
}

// Decode is ir.DecodeProcessorRoute(v, keys), remembered for a v that verifies.
func (c *Cache) Decode(v string, keys ir.RouteKeys) (*ir.ProcessorRoute, error) {
	e, err := c.entry(v, keys)
	if err != nil {
		return nil, err
	}
	return e.pr, nil
}

// DecodeDeployed is ir.DecodeDeployedRoute(route, deployment, keys), remembered: each distinct value is verified
// once, and the joined route is kept with the route's entry.
func (c *Cache) DecodeDeployed(route, deployment string, keys ir.RouteKeys) (*ir.ProcessorRoute, error) {
	e, err := c.entry(route, keys)
	if err != nil {
		return nil, err
	}
	if !e.pr.NeedsDeployment() {
		return e.pr, nil
	}
	if d := e.deployed.Load(); d != nil && d.deployment == deployment {
		return d.pr, nil
	}
	var d *ir.APIDeployments
	if deployment != "" {
		if d, err = c.deployment(deployment, keys); err != nil {
			return nil, err
		}
	}
	pr, err := e.pr.Deployed(d)
	if err != nil {
		return nil, err
	}
	e.deployed.Store(&deployedRoute{deployment: deployment, pr: pr})
	return pr, nil
}

func (c *Cache) entry(v string, keys ir.RouteKeys) (*entry, error) {
	c.mu.RLock()
	e := c.m[v]
	c.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	pr, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		return nil, err
	}
	e = &entry{pr: pr}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= Size {
		c.m = make(map[string]*entry)
	}
	c.m[v] = e
	c.mu.Unlock()
	return e, nil
}

func (c *Cache) deployment(v string, keys ir.RouteKeys) (*ir.APIDeployments, error) {
	c.mu.RLock()
	d := c.deployments[v]
	c.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	d, err := ir.DecodeAPIDeployments(v, keys)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.deployments == nil || len(c.deployments) >= Size {
		c.deployments = make(map[string]*ir.APIDeployments)
	}
	c.deployments[v] = d
	c.mu.Unlock()
	return d, nil
}
