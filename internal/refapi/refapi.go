// Package refapi generates REF-API(N), the reference API of the performance targets
// (shared/spec/performance-targets.md): N (resource, method) routes in one stage, 50% literal resources, 35% with
// one {param}, 15% greedy; methods spread over GET/POST/PUT/DELETE/ANY; 90% AWS_PROXY, 10% HTTP_PROXY with one
// backend per 10 HTTP_PROXY routes. Deterministic for a given N.
package refapi

import (
	"fmt"
	"math/rand/v2"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

var methods = []string{"GET", "POST", "PUT", "DELETE", "ANY"}

// New returns REF-API(n) with its stage "prod".
func New(n int) *apigatewayv1.RestApi {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	api := &apigatewayv1.RestApi{Id: "refapi0001", Name: "ref-api", Stages: []*apigatewayv1.Stage{{StageName: "prod"}}}
	httpRoutes := 0
	for i := 0; len(api.Resources)*len(methods) < n+len(methods); i++ {
		var path string
		switch r := rng.IntN(100); {
		case r < 50:
			path = fmt.Sprintf("/svc%d/items%d", i/20, i)
		case r < 85:
			path = fmt.Sprintf("/svc%d/items%d/{id}", i/20, i)
		default:
			path = fmt.Sprintf("/svc%d/files%d/{key+}", i/20, i)
		}
		api.Resources = append(api.Resources, &apigatewayv1.Resource{Id: fmt.Sprintf("%06d", i), Path: path, ResourceMethods: map[string]*apigatewayv1.Method{}})
	}
	count := 0
	for _, res := range api.Resources {
		for _, m := range methods {
			if count == n {
				break
			}
			count++
			var integ *apigatewayv1.Integration
			if count%10 == 0 {
				integ = &apigatewayv1.Integration{Type: "HTTP_PROXY", HttpMethod: "ANY",
					Uri: fmt.Sprintf("http://backend%d.internal:8080/api", httpRoutes/10)}
				httpRoutes++
			} else {
				integ = &apigatewayv1.Integration{Type: "AWS_PROXY", HttpMethod: "POST",
					Uri: fmt.Sprintf("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:fn%d/invocations", count%50)}
			}
			res.ResourceMethods[m] = &apigatewayv1.Method{HttpMethod: m, Integration: integ}
		}
	}
	// Drop resources left without methods by the cut at n (they would still be valid, but add no route).
	kept := api.Resources[:0]
	for _, r := range api.Resources {
		if len(r.ResourceMethods) > 0 {
			kept = append(kept, r)
		}
	}
	api.Resources = kept
	return api
}
