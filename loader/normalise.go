package loader

import (
	"sort"
	"strings"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// normalise completes a parsed model so that every consumer sees the same shape whatever the input format:
// enumerations in API Gateway's spelling, the implied resources present, ids filled, resources in path order.
// It never rejects anything; validate reports what is wrong with the result.
func normalise(api *apigatewayv1.RestApi) {
	for _, res := range api.Resources {
		if res == nil {
			continue
		}
		for key, m := range res.ResourceMethods {
			normaliseMethod(key, m)
		}
	}
	addImpliedResources(api)
	assignIDs(api)
	// Stable, so duplicate paths (a RES-6 error) keep their input order.
	sort.SliceStable(api.Resources, func(i, j int) bool {
		a, b := api.Resources[i], api.Resources[j]
		if a == nil || b == nil {
			return b == nil && a != nil
		}
		return a.Path < b.Path
	})
}

func normaliseMethod(key string, m *apigatewayv1.Method) {
	if m == nil {
		return
	}
	if m.HttpMethod == "" {
		m.HttpMethod = key
	}
	if m.AuthorizationType == "" {
		m.AuthorizationType = "NONE"
	}
	in := m.Integration
	if in == nil {
		return
	}
	// Exports write enumerations in lower case ("http_proxy", "when_no_match") while API Gateway's resource model
	// spells them in upper case; OAS-4 compares them case-insensitively.
	in.Type = strings.ToUpper(in.Type)
	in.HttpMethod = strings.ToUpper(in.HttpMethod)
	in.PassthroughBehavior = strings.ToUpper(in.PassthroughBehavior)
	in.ContentHandling = strings.ToUpper(in.ContentHandling)
	in.ConnectionType = strings.ToUpper(in.ConnectionType)
	for code, ir := range in.IntegrationResponses {
		if ir == nil {
			continue
		}
		if ir.StatusCode == "" {
			ir.StatusCode = code
		}
		ir.ContentHandling = strings.ToUpper(ir.ContentHandling)
	}
}

// maxTreeResources bounds how many resources one definition may expand to. AWS's quota is 300 per API (LIM-6,
// raisable) and proxyplus only warns above it; this far larger bound exists because implied parents grow with path
// depth, so a few megabytes of pathological paths could otherwise expand to millions of resources.
const maxTreeResources = 10000

// addImpliedResources creates the root and every parent a path implies (/a for /a/b), without methods (RES-1,
// OAS-7). Malformed paths imply nothing; validate reports them, and the expansion beyond maxTreeResources.
func addImpliedResources(api *apigatewayv1.RestApi) {
	have := map[string]bool{}
	for _, res := range api.Resources {
		if res != nil {
			have[res.Path] = true
		}
	}
	add := func(path string) bool {
		if have[path] {
			return true
		}
		if len(have) >= maxTreeResources {
			return false
		}
		have[path] = true
		api.Resources = append(api.Resources, &apigatewayv1.Resource{Path: path})
		return true
	}
	add("/")
	declared := len(api.Resources)
	for _, res := range api.Resources[:declared] {
		if res != nil {
			eachParent(res.Path, add)
		}
	}
}

// eachParent calls fn with each proper ancestor of a well-formed resource path, root excluded, shortest first:
// /a, /a/b for /a/b/c. Parents are substrings of path, so deep paths cost no copies; fn returns false to stop.
func eachParent(path string, fn func(parent string) bool) {
	if !wellFormed(path) {
		return
	}
	for i := 1; i < len(path); i++ {
		if path[i] == '/' && !fn(path[:i]) {
			return
		}
	}
}

// wellFormed is true for "/" and for paths that start with "/" and have no empty part ("/a//b", "/a/").
func wellFormed(path string) bool {
	return path == "/" || (strings.HasPrefix(path, "/") && !strings.HasSuffix(path, "/") && !strings.Contains(path, "//"))
}

// splitParent splits a well-formed path other than "/" into its parent and its last part: "/a/b" → "/a", "b".
func splitParent(path string) (parent, part string) {
	i := strings.LastIndexByte(path, '/')
	if i == 0 {
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}

// assignIDs fills the API id from its name and resource ids from (api id, path). Ids given in the input are kept.
func assignIDs(api *apigatewayv1.RestApi) {
	if api.Id == "" {
		api.Id = apiID(api.Name)
	}
	used := map[string]bool{}
	for _, res := range api.Resources {
		if res != nil && res.Id != "" {
			used[res.Id] = true
		}
	}
	// Path order, so a collision fallback picks the same id on every run.
	var missing []*apigatewayv1.Resource
	for _, res := range api.Resources {
		if res != nil && res.Id == "" {
			missing = append(missing, res)
		}
	}
	sort.SliceStable(missing, func(i, j int) bool { return missing[i].Path < missing[j].Path })
	for _, res := range missing {
		res.Id = resourceID(api.Id, res.Path, used)
		used[res.Id] = true
	}
}
