package loader

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// methodNames are the methods a resource may define (RES-8).
var methodNames = map[string]bool{
	"DELETE": true, "GET": true, "HEAD": true, "OPTIONS": true, "PATCH": true, "POST": true, "PUT": true, "ANY": true,
}

const (
	maxResources = 300 // LIM-6
)

var (
	// RES-2: letters, digits, _ - . , : for literal parts; a parameter is a whole segment, {name} or {name+}.
	literalPartRe = regexp.MustCompile(`^[A-Za-z0-9_\-.,:]+$`)
	paramPartRe   = regexp.MustCompile(`^\{([A-Za-z0-9_\-.,:]+)(\+?)\}$`)
	// Ids end up in host names (api) and Envoy route names (resource), so they are kept to what AWS generates.
	apiIDRe      = regexp.MustCompile(`^[a-z0-9]+$`)
	resourceIDRe = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// HTP-3: method request parameters are declared as method.request.{path|querystring|header}.<p>.
	methodParamRe = regexp.MustCompile(`^method\.request\.(path|querystring|header)\.([a-zA-Z0-9._$-]+)$`)
)

// validate checks a normalised model. src, when set, maps the model back to the input for locations.
func validate(r *reporter, api *apigatewayv1.RestApi, src *sourceMap) {
	if api == nil {
		r.errorf("$", "", "model", "there is no API definition")
		return
	}
	l := newLocator(src)
	validateAPI(r, api, l)
	validateTree(r, api, l)
	validateMethods(r, api, l)
	validateStages(r, api, l.stages())
	validateStored(r, api, l)
}

func validateAPI(r *reporter, api *apigatewayv1.RestApi, l *locator) {
	if api.Name == "" {
		loc, field := l.apiField("name")
		r.errorf(loc, field, "api-name", "the API has no name")
	}
	if api.Id != "" && !apiIDRe.MatchString(api.Id) {
		r.errorf("$.id", "id", "ids", "API id %q must be lower-case letters and digits: it is the first label of the execute-api host name", api.Id)
	}
	for i, t := range api.BinaryMediaTypes {
		if strings.TrimSpace(t) == "" {
			loc, field := l.apiField("binaryMediaTypes")
			r.errorf(index(loc, i), field, "OAS-5", "binary media type %d is empty", i)
		}
	}
}

// treeNode is one resource of the tree, declared or implied, with where to report findings about it.
type treeNode struct {
	path, loc string
}

// validateTree checks the resource paths and their parent/child relations (RES-2..RES-7, RES-16, LIM-6).
func validateTree(r *reporter, api *apigatewayv1.RestApi, l *locator) {
	byPath := map[string]treeNode{}
	var declared []treeNode
	ids := map[string]string{}
	for i, res := range api.Resources {
		if res == nil {
			r.errorf(index("$.resources", i), "", "model", "resource %d is null", i)
			continue
		}
		loc, ok := l.declaredAt(res, i)
		if !ok {
			continue // a parent normalise created; it is checked below with the path that implied it
		}
		if res.Id != "" {
			if !resourceIDRe.MatchString(res.Id) {
				r.errorf(child(loc, "id"), "id", "ids", "resource id %q must be letters and digits", res.Id)
			}
			if other, dup := ids[res.Id]; dup {
				r.errorf(child(loc, "id"), "id", "ids", "resource id %q of %s is also the id of %s", res.Id, res.Path, other)
			}
			ids[res.Id] = res.Path
		}
		if !checkPathShape(r, l, loc, res.Path) {
			continue
		}
		if _, dup := byPath[res.Path]; dup {
			_, part := splitParent(res.Path)
			r.errorf(l.resourcePath(loc), "path", "RES-6", "resource %s is declared twice: a parent cannot have two "+
				"children with the path part %q", res.Path, part)
			continue
		}
		n := treeNode{path: res.Path, loc: loc}
		byPath[res.Path] = n
		declared = append(declared, n)
	}
	if _, ok := byPath["/"]; !ok {
		byPath["/"] = treeNode{path: "/", loc: "$"} // RES-1: the root always exists
	}
	// The parents a path implies exist whether or not the model was normalised (OAS-7). Visiting declared paths in
	// order makes the smallest declared path below a parent the one its findings are reported at.
	sort.SliceStable(declared, func(i, j int) bool { return declared[i].path < declared[j].path })
	full := false
	for _, d := range declared {
		eachParent(d.path, func(p string) bool {
			if _, ok := byPath[p]; ok {
				return true
			}
			if len(byPath) >= maxTreeResources {
				full = true
				return false
			}
			byPath[p] = treeNode{path: p, loc: d.loc}
			return true
		})
	}
	if full {
		r.errorf("$", "", "LIM-6", "the paths expand to more than %d resources, the most proxyplus loads (API Gateway's "+
			"quota is %d per API)", maxTreeResources, maxResources)
		return
	}
	nodes := make([]treeNode, 0, len(byPath))
	for _, n := range byPath {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].path < nodes[j].path })

	variableChild := map[string]string{}
	for _, n := range nodes {
		if n.path == "/" {
			continue
		}
		checkNode(r, l, n, variableChild)
		if len(api.Hosts) > 0 && (n.path == "/ping" || n.path == "/sping") {
			r.warnf(l.resourcePath(n.loc), "path", "RES-16", "%s is reserved for API Gateway's health check on custom "+
				"domains; this API has custom domains", n.path)
		}
	}
	if len(nodes) > maxResources {
		r.warnf("$", "", "LIM-6", "the API has %d resources; API Gateway's default quota is %d per API (raisable)", len(nodes), maxResources)
	}
}

// checkNode checks a resource's own path part against RES-2 and its place in the tree against RES-3, RES-4 and
// RES-7; every part of a path is some resource's own part, so each is checked once. variableChild records the
// first variable child seen per parent.
func checkNode(r *reporter, l *locator, n treeNode, variableChild map[string]string) {
	at := l.resourcePath(n.loc)
	parent, part := splitParent(n.path)
	name, _, isParam, ok := parsePart(part)
	if !ok {
		r.errorf(at, "path", "RES-2", "%s", partError(part))
		return
	}
	if parent != "/" {
		_, parentPart := splitParent(parent)
		if _, greedy, _, _ := parsePart(parentPart); greedy {
			r.errorf(at, "path", "RES-4", "Cannot create a child of a resource with a greedy path variable: %s (resource %s)",
				parentPart, n.path)
		}
	}
	if !isParam {
		return
	}
	if first, seen := variableChild[parent]; !seen {
		variableChild[parent] = part
	} else if first != part {
		r.errorf(at, "path", "RES-3", "A sibling (%s) of this resource already has a variable path part -- only one is "+
			"allowed (resource %s)", first, n.path)
	}
	// Scanning the parent's text finds {name} or {name+} as a whole part without splitting the path again.
	for _, p := range []string{"{" + name + "}", "{" + name + "+}"} {
		if strings.Contains(parent+"/", "/"+p+"/") {
			r.errorf(at, "path", "RES-7", "path parameter %q appears twice in %s: the pathParameters keys would collide", name, n.path)
			break
		}
	}
}

// checkPathShape reports a resource path that does not start with "/" or has an empty part (RES-2).
func checkPathShape(r *reporter, l *locator, loc, path string) bool {
	if wellFormed(path) {
		return true
	}
	at := l.resourcePath(loc)
	switch {
	case path == "":
		r.errorf(at, "path", "RES-2", "the resource has no path")
	case !strings.HasPrefix(path, "/"):
		r.errorf(at, "path", "RES-2", "resource path %q must start with \"/\"", path)
	case strings.HasSuffix(path, "/"):
		r.errorf(at, "path", "RES-2", "resource path %q must not end with \"/\"", path)
	default:
		r.errorf(at, "path", "RES-2", "resource path %q has an empty path part", path)
	}
	return false
}

// parsePart reads one path part: a literal, {name} or {name+}. ok is false when it is neither (RES-2).
func parsePart(part string) (name string, greedy, isParam, ok bool) {
	if m := paramPartRe.FindStringSubmatch(part); m != nil {
		return m[1], m[2] == "+", true, true
	}
	return part, false, false, literalPartRe.MatchString(part)
}

func partError(part string) string {
	if strings.ContainsAny(part, "{}") {
		return fmt.Sprintf("path part %q is not valid: a path parameter takes a whole path part, {name} or {name+}, "+
			"with a name of letters, digits, _ - . , :", part)
	}
	return fmt.Sprintf("path part %q is not valid: path parts may contain only letters, digits, _ - . , : and a "+
		"path parameter in braces", part)
}

// authorizationTypes are API Gateway's method authorization types (Method.authorizationType).
var authorizationTypes = map[string]bool{"": true, "NONE": true, "CUSTOM": true, "COGNITO_USER_POOLS": true, "AWS_IAM": true}

// validateAuthorization reports a method that requires authorization proxyplus does not enforce yet: it is served
// fail-closed (AUTH-1, an error for `validate`), or open because the API opted out (AUTH-2).
// A method whose every requirement proxyplus enforces (ir.Authorization.Enforced: a Lambda authorizer it runs, a
// Cognito user pool, an API key from x-api-key) has nothing to report.
func validateAuthorization(r *reporter, l *locator, api *apigatewayv1.RestApi, m *apigatewayv1.Method, loc, name string, insecure bool) {
	floc, field := l.methodField(m, loc, "authorizationType")
	if !authorizationTypes[m.AuthorizationType] {
		r.errorf(floc, field, "RES-12", "authorization type %q of %s is not an API Gateway type: use NONE, CUSTOM, "+
			"COGNITO_USER_POOLS or AWS_IAM", m.AuthorizationType, name)
		return
	}
	auth := methodRequirement(api, m)
	if auth == nil || auth.Enforced() {
		return
	}
	if auth.Type == "" {
		floc, field = l.methodField(m, loc, "apiKeyRequired")
	}
	if insecure {
		r.warnf(floc, field, diag.RuleServedUnauthenticated, "INSECURE: %s requires %s, which proxyplus does not check; "+
			"serveUnauthenticatedInsecure (%s) serves it to anyone without credentials", name, auth, extServeInsecure)
		return
	}
	refusal := auth.Unauthenticated()
	r.warnf(floc, field, diag.RuleUnenforcedAuthorization, "%s requires %s, which proxyplus does not enforce yet: it is "+
		"served fail-closed, answering every request %d %s as API Gateway answers a request without credentials, and "+
		"never reaches its integration; to serve it open to anyone (insecure), set %s: true at the document root "+
		"(serveUnauthenticatedInsecure: true in proxyplus's format)", name, auth, refusal.StatusCode, refusal.Body,
		extServeInsecure)
}

// validateMethods checks every method and its integration (RES-8, RES-9, HTP-3 and the integration rules).
func validateMethods(r *reporter, api *apigatewayv1.RestApi, l *locator) {
	for i, res := range api.Resources {
		if res == nil {
			continue
		}
		resLoc := l.resource(res, i)
		keys := make([]string, 0, len(res.ResourceMethods))
		for k := range res.ResourceMethods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			m := res.ResourceMethods[key]
			loc := l.method(m, resLoc, key)
			name := methodName(key, res.Path)
			if !methodNames[key] {
				hint := ""
				if methodNames[strings.ToUpper(key)] {
					hint = fmt.Sprintf(" (write %q)", strings.ToUpper(key))
				}
				r.errorf(loc, "resourceMethods", "RES-8", "%q on %s is not an API Gateway method%s: use DELETE, GET, HEAD, "+
					"OPTIONS, PATCH, POST, PUT or ANY", key, res.Path, hint)
				continue
			}
			if m == nil {
				r.errorf(loc, "resourceMethods", "RES-9", "method %s is null", name)
				continue
			}
			validateMethod(r, l, m, loc, key, name, res.Path)
			validateAuthorization(r, l, api, m, loc, name, api.GetServeUnauthenticatedInsecure())
		}
	}
}

// methodRequirement is m's requirement as far as enforcement goes (the translator's methodAuthorization without
// the details): the API key's source, a Lambda authorizer when m names a TOKEN or REQUEST authorizer, a Cognito
// authorizer when m names one whose providerARNs all name user pools. nil when m requires nothing.
func methodRequirement(api *apigatewayv1.RestApi, m *apigatewayv1.Method) *ir.Authorization {
	auth := ir.NewAuthorization(m.GetAuthorizationType(), m.GetApiKeyRequired(), api.GetApiKeySource())
	if auth == nil {
		return nil
	}
	switch auth.Type {
	case ir.AuthCustom:
		if lambdaAuthorizer(api, m) {
			auth.Lambda = &ir.LambdaAuthorizer{Name: m.GetAuthorizerName()}
		}
	case ir.AuthCognito:
		for _, a := range api.GetAuthorizers() {
			if a.GetName() != m.GetAuthorizerName() {
				continue
			}
			pools, err := ir.ParseUserPoolARNs(a.GetProviderArns())
			if err != nil {
				return auth
			}
			auth.Cognito = &ir.CognitoAuthorizer{Name: a.GetName(), Pools: pools}
		}
	}
	return auth
}

// lambdaAuthorizer reports whether m is a CUSTOM method naming a TOKEN or REQUEST authorizer of api, which the
// processor runs (issue 11 scope 1).
func lambdaAuthorizer(api *apigatewayv1.RestApi, m *apigatewayv1.Method) bool {
	if m.GetAuthorizationType() != ir.AuthCustom || m.GetAuthorizerName() == "" {
		return false
	}
	for _, a := range api.GetAuthorizers() {
		if a.GetName() == m.GetAuthorizerName() {
			return a.GetType() == ir.AuthorizerToken || a.GetType() == ir.AuthorizerRequest
		}
	}
	return false
}

func validateMethod(r *reporter, l *locator, m *apigatewayv1.Method, loc, key, name, resourcePath string) {
	if m.HttpMethod != "" && m.HttpMethod != key {
		floc, field := l.methodField(m, loc, "httpMethod")
		r.errorf(floc, field, "RES-8", "httpMethod %q of %s disagrees with the key %q it is declared under", m.HttpMethod, name, key)
	}
	// The resource path declares its own path parameters, as the API Gateway console adds them for you; other
	// sources must be declared explicitly (HTP-3).
	declared := map[string]bool{}
	for _, seg := range strings.Split(resourcePath, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			declared[paramKey("path", strings.TrimSuffix(strings.Trim(seg, "{}"), "+"))] = true
		}
	}
	pkeys := slices.Sorted(maps.Keys(m.RequestParameters))
	for _, k := range pkeys {
		mt := methodParamRe.FindStringSubmatch(k)
		if mt == nil {
			floc, field := l.methodField(m, loc, "requestParameters")
			if field == "requestParameters" {
				floc = child(floc, k)
			}
			r.errorf(floc, field, "HTP-3", "method request parameter %q of %s must be method.request.path.<name>, "+
				"method.request.querystring.<name> or method.request.header.<name>, the name made of letters, digits and . _ $ -", k, name)
			continue
		}
		declared[paramKey(mt[1], mt[2])] = true
	}
	if m.Integration == nil {
		floc, field := l.methodField(m, loc, "integration")
		r.errorf(floc, field, "RES-9", "%s has no integration: every deployed method needs one", name)
		return
	}
	validateIntegration(r, m.Integration, integrationContext{
		loc:      l.integration(m, loc),
		method:   name,
		declared: declared,
	})
}

// paramKey identifies a declared method request parameter; header names compare case-insensitively.
func paramKey(where, name string) string {
	switch where {
	case "header", "multivalueheader":
		return "header." + strings.ToLower(name)
	case "multivaluequerystring":
		return "querystring." + name
	}
	return where + "." + name
}
