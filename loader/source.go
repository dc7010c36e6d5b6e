package loader

import (
	"strings"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// sourceMap records where each resource and method of a model was declared in the input, so findings on the
// normalised (re-ordered, completed) model point at what the user wrote: $.resources[3] as written, or
// $.paths['/pets'].get for an OpenAPI input. Keys are the model's own pointers, which normalisation keeps.
type sourceMap struct {
	resources map[*apigatewayv1.Resource]string
	methods   map[*apigatewayv1.Method]methodSource
	// methodFields renames model fields of a method to the input's own: an OpenAPI operation declares
	// requestParameters as "parameters" and its authorization under "security".
	methodFields map[string]string
	// apiFields locates API-level fields that the input spells differently (OpenAPI: name is $.info.title).
	apiFields map[string]string
	// pathIsKey says a resource's path is the key it is declared under ($.paths['/pets']), not a field.
	pathIsKey bool
	// stages locates the list of stages when the input does not call it $.stages (x-proxyplus-stages).
	stages string
	// authorizers locates authorizers declared elsewhere than $.authorizers (OpenAPI security schemes).
	authorizers map[*apigatewayv1.Authorizer]string
}

type methodSource struct {
	method, integration string
	// security locates the requirement the method's authorization came from when it is not the method's own
	// field: the document root's security (OpenAPI), which every operation without its own inherits.
	security string
}

func newSourceMap() *sourceMap {
	return &sourceMap{
		resources: map[*apigatewayv1.Resource]string{},
		methods:   map[*apigatewayv1.Method]methodSource{},
	}
}

// locator answers validate's "where is this?" for one model, falling back to proxyplus-format paths of the model
// as it stands when there is no source map (Validate called on a model built in code).
type locator struct {
	src *sourceMap
}

func newLocator(src *sourceMap) *locator {
	return &locator{src: src}
}

// declaredAt locates a resource the input declared; i is its index in api.Resources. ok is false for a resource
// the input did not declare (a parent created by normalisation, OAS-7).
func (l *locator) declaredAt(res *apigatewayv1.Resource, i int) (string, bool) {
	if l.src == nil {
		return index("$.resources", i), true
	}
	loc, ok := l.src.resources[res]
	return loc, ok
}

// resource locates a resource for findings about its methods; only declared resources have methods.
func (l *locator) resource(res *apigatewayv1.Resource, i int) string {
	if loc, ok := l.declaredAt(res, i); ok {
		return loc
	}
	return "$"
}

// method locates a method; resLoc is its resource's location.
func (l *locator) method(m *apigatewayv1.Method, resLoc, key string) string {
	if l.src != nil {
		if s, ok := l.src.methods[m]; ok {
			return s.method
		}
	}
	return child(child(resLoc, "resourceMethods"), key)
}

// integration locates a method's integration.
func (l *locator) integration(m *apigatewayv1.Method, methodLoc string) string {
	if l.src != nil {
		if s, ok := l.src.methods[m]; ok {
			return s.integration
		}
	}
	return child(methodLoc, "integration")
}

// methodField names a method field as the input does and returns its location.
func (l *locator) methodField(m *apigatewayv1.Method, methodLoc, field string) (loc, name string) {
	name = field
	if l.src != nil {
		if s, ok := l.src.methods[m]; ok {
			if renamed, ok := l.src.methodFields[field]; ok {
				name = renamed
			}
			if s.security != "" && (field == "authorizationType" || field == "apiKeyRequired") {
				return s.security, name
			}
		}
	}
	return child(methodLoc, name), name
}

// apiField locates an API-level field.
func (l *locator) apiField(field string) (loc, name string) {
	if l.src != nil {
		if loc, ok := l.src.apiFields[field]; ok {
			return loc, lastKey(loc)
		}
	}
	return child("$", field), field
}

// resourcePath locates the path of a resource declared at loc.
func (l *locator) resourcePath(loc string) string {
	if l.src != nil && l.src.pathIsKey {
		return loc
	}
	return child(loc, "path")
}

// authorizer locates the fields of authorizer i.
func (l *locator) authorizer(a *apigatewayv1.Authorizer, i int) string {
	if l.src != nil {
		if loc, ok := l.src.authorizers[a]; ok {
			return loc
		}
	}
	return index("$.authorizers", i)
}

// stages locates the list of stages.
func (l *locator) stages() string {
	if l.src != nil && l.src.stages != "" {
		return l.src.stages
	}
	return "$.stages"
}

// lastKey is the last plain key of a JSON path: "title" for $.info.title.
func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 && !strings.ContainsAny(path[i:], "[]'") {
		return path[i+1:]
	}
	return ""
}
