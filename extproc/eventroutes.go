package extproc

import (
	"sync"

	"github.com/proxyplus/proxyplus/internal/routecache"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// eventRoutes remembers each route's constant event parts (lambdaproxy.EventRoute), written once per route the
// route cache decoded: the route cache answers the same *ir.ProcessorRoute for the same signed route data, so the
// pointer is the key. Bounded like the route cache: it starts over once it holds routecache.Size routes; a route
// the route cache dropped stays here until then, kept alive by its key.
type eventRoutes struct {
	mu sync.RWMutex
	m  map[*ir.ProcessorRoute]*lambdaproxy.EventRoute
}

// get is pr's prepared event parts for account accountID.
func (e *eventRoutes) get(pr *ir.ProcessorRoute, accountID string) *lambdaproxy.EventRoute {
	e.mu.RLock()
	er := e.m[pr]
	e.mu.RUnlock()
	if er != nil && er.AccountID() == accountID {
		return er
	}
	er = lambdaproxy.PrepareEventRoute(pr, accountID)
	e.mu.Lock()
	if e.m == nil || len(e.m) >= routecache.Size {
		e.m = make(map[*ir.ProcessorRoute]*lambdaproxy.EventRoute)
	}
	e.m[pr] = er
	e.mu.Unlock()
	return er
}
