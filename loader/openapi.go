package loader

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// API Gateway extensions the importer reads; any other x-amazon-apigateway-* key is reported (OAS-10).
const (
	extPrefix           = "x-amazon-apigateway-"
	extIntegration      = "x-amazon-apigateway-integration"
	extAnyMethod        = "x-amazon-apigateway-any-method"
	extBinaryMediaTypes = "x-amazon-apigateway-binary-media-types"
	// extServeInsecure is proxyplus's own opt-out (RestApi.serve_unauthenticated_insecure).
	extServeInsecure = "x-proxyplus-serve-unauthenticated-insecure"
)

// operationKeys are the path-item keys that are API Gateway methods (RES-8); the key upper-cased is the method.
var operationKeys = []string{"delete", "get", "head", "options", "patch", "post", "put"}

// oasImporter turns an OpenAPI 3 or Swagger 2.0 document (decoded to a generic tree) into the model. Both versions
// are read by the same code: API Gateway's extensions are identical in both, and the standard parts it needs
// (paths, operations, parameters, security) differ only in where security schemes live.
type oasImporter struct {
	doc   jsonReader // structure of the document (OAS-1)
	integ jsonReader // inside x-amazon-apigateway-integration (OAS-4)
	root  map[string]any
	// swagger is true for Swagger 2.0, false for OpenAPI 3.
	swagger bool
	src     *sourceMap
	// handled holds the JSON paths of the extensions the importer read; the rest are reported.
	handled map[string]bool
	// rootAuth and rootAPIKey are what the document root's security requires of every operation without its own.
	rootAuth   string
	rootAPIKey bool
}

func newOASImporter(r *reporter, d *document, format string) *oasImporter {
	return &oasImporter{
		doc:     jsonReader{r: r, rule: "OAS-1"},
		integ:   jsonReader{r: r, rule: "OAS-4"},
		root:    d.tree,
		swagger: format == FormatSwagger2,
		src:     newSourceMap(),
		handled: map[string]bool{},
	}
}

func loadOpenAPI(r *reporter, d *document, format, version string, opts Options) (*apigatewayv1.RestApi, *sourceMap) {
	im := newOASImporter(r, d, format)
	coerceLoose(r, d.tree, "$")
	if !im.checkVersion(version) {
		return nil, nil
	}
	kin := newReporter(r.file)
	if !checkWithKin(kin, d.tree, im.swagger) {
		// kin-openapi's message for a value of the wrong type names neither the path nor the field; the importer's
		// own reading of the document does. Its errors replace kin's when it finds any.
		probe := newReporter(r.file)
		newOASImporter(probe, d, format).read(opts)
		if errs := probe.list.Errors(); len(errs) > 0 {
			r.addAll(errs)
		} else {
			r.addAll(kin.list)
		}
		return nil, nil
	}
	r.addAll(kin.list)
	return im.read(opts)
}

// read builds the model from a document kin-openapi could read (or, for locating errors, could not).
func (im *oasImporter) read(opts Options) (*apigatewayv1.RestApi, *sourceMap) {
	im.src.pathIsKey = true
	im.src.methodFields = map[string]string{
		"requestParameters": "parameters",
		"authorizationType": "security",
		"apiKeyRequired":    "security",
		"integration":       extIntegration,
		"operationName":     "operationId",
	}
	im.src.apiFields = map[string]string{
		"name":                         "$.info.title",
		"binaryMediaTypes":             child("$", extBinaryMediaTypes),
		"serveUnauthenticatedInsecure": child("$", extServeInsecure),
	}

	api := &apigatewayv1.RestApi{}
	info := im.doc.object(im.root, "info", "$")
	api.Name = im.doc.str(info, "title", "$.info")
	api.Description = im.doc.str(info, "description", "$.info")
	api.BinaryMediaTypes = im.doc.strList(im.root, extBinaryMediaTypes, "$")
	im.handled[child("$", extBinaryMediaTypes)] = true
	api.Id = im.exportedID()
	api.ServeUnauthenticatedInsecure = im.doc.boolean(im.root, extServeInsecure, "$")
	// Root-level security applies to every operation without its own, as API Gateway's importer applies it
	// (AUTHORIZERS.md §7: LocalStack's AWS recordings test_import_with_global_api_key_authorizer and
	// test_import_with_cognito_auth_identity_source).
	im.rootAuth, im.rootAPIKey = "NONE", false
	if v, ok := im.root["security"]; ok && v != nil {
		im.rootAuth, im.rootAPIKey = im.security(v, "$")
	}
	prefix := im.basePathPrefix(opts.BasePathMode)
	paths := im.doc.object(im.root, "paths", "$")
	for _, key := range slices.Sorted(maps.Keys(paths)) {
		im.pathItem(api, prefix, key, paths[key])
	}
	im.keepStored(api)
	im.reportExtensions(im.root, "$")
	return api, im.src
}

// checkVersion applies OAS-1: Swagger 2.0 and OpenAPI 3.0 are what API Gateway imports; 3.1 is read with a warning.
func (im *oasImporter) checkVersion(version string) bool {
	r := im.doc.r
	if im.swagger {
		if version != "2.0" {
			r.errorf("$.swagger", "swagger", "OAS-1", "Swagger version %q is not supported: API Gateway imports Swagger 2.0 "+
				"and OpenAPI 3.0", version)
			return false
		}
		return true
	}
	switch {
	case version == "3.0" || strings.HasPrefix(version, "3.0."):
	case version == "3.1" || strings.HasPrefix(version, "3.1."):
		r.warnf("$.openapi", "openapi", "OAS-1", "OpenAPI %s may not import into API Gateway, which documents support for "+
			"Swagger 2.0 and OpenAPI 3.0; proxyplus reads it as 3.0", version)
	default:
		r.errorf("$.openapi", "openapi", "OAS-1", "OpenAPI version %q is not supported: API Gateway imports Swagger 2.0 "+
			"and OpenAPI 3.0", version)
		return false
	}
	return true
}

// pathItem turns one entry of paths into a resource with its methods. The resource path is the key as written,
// greedy parameters included (OAS-2), behind the base-path prefix (OAS-6).
func (im *oasImporter) pathItem(api *apigatewayv1.RestApi, prefix, key string, v any) {
	declared := child("$.paths", key)
	v, itemPath, ok := im.doc.resolveRef(im.root, v, declared)
	if !ok {
		return
	}
	item, isObj := v.(map[string]any)
	if !isObj && v != nil {
		im.doc.r.errorf(itemPath, key, "OAS-1", "path item %q must be an object, not %s", key, jsonType(v))
		return
	}
	res := &apigatewayv1.Resource{Path: joinPath(prefix, key)}
	api.Resources = append(api.Resources, res)
	im.src.resources[res] = declared
	common := im.parameters(item, itemPath)
	for _, op := range operationKeys {
		if ov, ok := item[op]; ok {
			im.operation(res, strings.ToUpper(op), ov, child(itemPath, op), common)
		}
	}
	// OAS-3: parsers keep the ANY operation as a path-item extension, so it is read here explicitly.
	if ov, ok := item[extAnyMethod]; ok {
		p := child(itemPath, extAnyMethod)
		im.handled[p] = true
		im.operation(res, "ANY", ov, p, common)
	}
	if _, ok := item["trace"]; ok {
		im.doc.r.warnf(child(itemPath, "trace"), "trace", "RES-8", "TRACE is not an API Gateway method; the operation is ignored")
	}
}

// joinPath puts the base-path prefix in front of a path key; a malformed key is kept as written for RES-2 to report.
func joinPath(prefix, key string) string {
	switch {
	case prefix == "" || !strings.HasPrefix(key, "/"):
		return key
	case key == "/":
		return prefix
	}
	return prefix + key
}

// operation turns an operation object into the method key of res.
func (im *oasImporter) operation(res *apigatewayv1.Resource, key string, v any, path string, common []oasParam) {
	op, isObj := v.(map[string]any)
	if !isObj {
		im.doc.r.errorf(path, lastKey(path), "OAS-1", "the %s operation must be an object, not %s", key, jsonType(v))
		return
	}
	m := &apigatewayv1.Method{HttpMethod: key}
	m.OperationName = im.doc.str(op, "operationId", path) // OAS-9
	if params := mergeParams(common, im.parameters(op, path)); len(params) > 0 {
		m.RequestParameters = map[string]bool{}
		for _, p := range params {
			m.RequestParameters["method.request."+p.in+"."+p.name] = p.required
		}
	}
	src := methodSource{method: path, integration: child(path, extIntegration)}
	if v, own := op["security"]; own && v != nil {
		// An operation's own security, an empty list included, replaces the root's (AUTHORIZERS.md §7).
		m.AuthorizationType, m.ApiKeyRequired = im.security(v, path)
	} else {
		m.AuthorizationType, m.ApiKeyRequired = im.rootAuth, im.rootAPIKey
		if m.AuthorizationType != "NONE" || m.ApiKeyRequired {
			src.security = "$.security"
		}
	}
	m.AuthorizerName, m.AuthorizationScopes = im.methodAuthorizer(op, m.AuthorizationType)
	if iv, ok := op[extIntegration]; ok {
		ip := child(path, extIntegration)
		im.handled[ip] = true
		m.Integration = im.integration(iv, ip)
	}
	if res.ResourceMethods == nil {
		res.ResourceMethods = map[string]*apigatewayv1.Method{}
	}
	res.ResourceMethods[key] = m
	im.src.methods[m] = src
}

// oasParam is a method request parameter; in is already API Gateway's word (querystring, not query).
type oasParam struct {
	in, name string
	required bool
}

// parameters reads the parameters of a path item or operation. Only name, in and required matter (OAS-8).
func (im *oasImporter) parameters(obj map[string]any, path string) []oasParam {
	v, ok := obj["parameters"]
	if !ok || v == nil {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		im.doc.typeError(path, "parameters", "an array", v)
		return nil
	}
	var out []oasParam
	for i, e := range list {
		e, p, ok := im.doc.resolveRef(im.root, e, index(child(path, "parameters"), i))
		if !ok {
			continue
		}
		po, isObj := e.(map[string]any)
		if !isObj {
			im.doc.r.errorf(p, "parameters", "OAS-1", "parameter must be an object, not %s", jsonType(e))
			continue
		}
		name, in := im.doc.str(po, "name", p), im.doc.str(po, "in", p)
		required := im.doc.boolean(po, "required", p)
		switch in {
		case "path", "header":
			out = append(out, oasParam{in, name, required})
		case "query":
			out = append(out, oasParam{"querystring", name, required})
		case "body", "formData":
			// Request models: only request validation reads them, and validators are reported where declared.
		case "cookie":
			im.doc.r.warnf(child(p, "in"), "in", "OAS-8", "cookie parameter %q is not supported by API Gateway; it is ignored", name)
		default:
			im.doc.r.warnf(child(p, "in"), "in", "OAS-8", "parameter %q has location %q, which API Gateway does not read; "+
				"it is ignored", name, in)
		}
	}
	return out
}

// mergeParams applies OpenAPI's rule that an operation's parameter replaces the path item's of the same name and
// location.
func mergeParams(common, own []oasParam) []oasParam {
	out := append([]oasParam(nil), own...)
	for _, c := range common {
		replaced := false
		for _, o := range own {
			if o.in == c.in && o.name == c.name {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}

var serverVarRe = regexp.MustCompile(`\{([^{}]*)\}`)

// basePathPrefix computes the resource prefix of OAS-6 for the chosen mode: Swagger's basePath, or OpenAPI 3's
// basePath server variable, else the path of the first server URL. host and servers never create stages.
func (im *oasImporter) basePathPrefix(mode string) string {
	if mode == "" || mode == BasePathIgnore {
		return ""
	}
	var bp, loc string
	if im.swagger {
		bp, _ = im.root["basePath"].(string)
		loc = "$.basePath"
	} else {
		bp, loc = oas3BasePath(im.root), "$.servers[0]"
	}
	var segs []string
	for _, s := range strings.Split(bp, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if mode == BasePathSplit && len(segs) > 0 {
		segs = segs[1:]
	}
	for _, s := range segs {
		if _, _, isParam, ok := parsePart(s); !ok || isParam {
			im.doc.r.errorf(loc, lastKey(loc), "OAS-6", "base path %q cannot become resources: path part %q is not a "+
				"literal of letters, digits, _ - . , :", bp, s)
			return ""
		}
	}
	if len(segs) == 0 {
		return ""
	}
	return "/" + strings.Join(segs, "/")
}

func oas3BasePath(root map[string]any) string {
	servers, _ := root["servers"].([]any)
	if len(servers) == 0 {
		return ""
	}
	s0, _ := servers[0].(map[string]any)
	vars, _ := s0["variables"].(map[string]any)
	def := func(name string) string {
		v, _ := vars[name].(map[string]any)
		d, _ := v["default"].(string)
		return d
	}
	if bp, ok := vars["basePath"].(map[string]any); ok {
		if d, ok := bp["default"].(string); ok {
			return d
		}
	}
	u, _ := s0["url"].(string)
	u = serverVarRe.ReplaceAllStringFunc(u, func(m string) string { return def(m[1 : len(m)-1]) })
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			u = rest[i:]
		}
	}
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return u
}
