package lambdainvoke

import (
	"context"
	"fmt"
)

// Routing sends the functions a local function host serves to that host and every other function elsewhere. A
// function is local when its name (ParseFunction's Name: without ARN prefix or qualifier) is one of the local
// names, so "fn", "fn:live", "123456789012:function:fn" and "arn:aws:lambda:us-east-1:123456789012:function:fn:3"
// all go to the local host, which receives the function exactly as given. Routing is immutable and safe for
// concurrent use when its invokers are.
type Routing struct {
	local  Invoker
	names  map[string]struct{}
	remote Invoker
}

// NewRouting returns an Invoker that sends the functions named in names to local and all others to remote. A nil
// remote makes every other function fail with ErrNotFound. local may be nil only when names is empty.
func NewRouting(local Invoker, names []string, remote Invoker) *Routing {
	if local == nil && len(names) > 0 {
		panic("lambdainvoke.NewRouting: local functions without a local invoker")
	}
	r := &Routing{local: local, names: make(map[string]struct{}, len(names)), remote: remote}
	for _, n := range names {
		r.names[n] = struct{}{}
	}
	return r
}

// IsLocal reports whether function goes to the local invoker.
func (r *Routing) IsLocal(function string) bool {
	_, ok := r.names[ParseFunction(function).Name]
	return ok
}

// Invoke invokes function on the local or the remote invoker.
func (r *Routing) Invoke(ctx context.Context, function string, payload []byte) (*Result, error) {
	if r.IsLocal(function) {
		return r.local.Invoke(ctx, function, payload)
	}
	if r.remote == nil {
		return nil, &InvokeError{Function: function, Class: ErrNotFound,
			Err: fmt.Errorf("no local function %q and no remote invoker", ParseFunction(function).Name)}
	}
	return r.remote.Invoke(ctx, function, payload)
}
