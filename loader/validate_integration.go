package loader

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

const (
	minTimeoutMillis     = 50    // RES-14
	defaultTimeoutMillis = 29000 // RES-14: the default, and the bound above which a quota increase is needed
)

var (
	// HTP-3 grammar.
	integrationParamRe = regexp.MustCompile(`^integration\.request\.(path|querystring|header)\.([a-zA-Z0-9._$-]+)$`)
	methodSourceRe     = regexp.MustCompile(`^method\.request\.(path|querystring|multivaluequerystring|header|multivalueheader)\.([a-zA-Z0-9._$-]+)$`)
	stageVarSourceRe   = regexp.MustCompile(`^\$?stageVariables\.[A-Za-z0-9_]+$`)
	contextSourceRe    = regexp.MustCompile(`^\$?context\.[A-Za-z0-9_.-]+$`)
	// ${stageVariables.name} inside a uri (HTP-2, RES-17); resolved per stage, so checks look through it.
	stageVarRefRe = regexp.MustCompile(`\$\{stageVariables\.[A-Za-z0-9_]+\}`)
	// {name} placeholders of an HTTP_PROXY uri (HTP-1); the optional $ catches ${stageVariables.x}, which is not one.
	placeholderRe = regexp.MustCompile(`\$?\{([^{}]*)\}`)
	// RES-17: the API Gateway form, and the Lambda function forms it wraps.
	lambdaInvokeURIRe = regexp.MustCompile(`^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(.+)/invocations$`)
	functionARNRe     = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:(\$LATEST|[A-Za-z0-9_-]+))?$`)
	functionNameRe    = regexp.MustCompile(`^([0-9]{12}:function:)?[A-Za-z0-9_-]+(:(\$LATEST|[A-Za-z0-9_-]+))?$`)
)

// Header names whose mapping makes every AWS_PROXY invocation fail with 500 (EVT-29) and every HTTP_PROXY
// invocation fail with 500 (HTP-10). Lower case.
var (
	lambdaForbiddenHeaders = map[string]bool{
		"content-length": true, "transfer-encoding": true, "authorization": true, "connection": true, "expect": true,
		"proxy-authenticate": true, "te": true,
	}
	httpForbiddenHeaders = map[string]bool{"content-length": true, "transfer-encoding": true}
)

// integrationContext is what the integration checks need to know about the method around it.
type integrationContext struct {
	loc    string // the integration's location
	method string // "GET /pets", for messages
	// declared method request parameters, as paramKey values (HTP-3: sources must be declared).
	declared map[string]bool
}

func (c integrationContext) at(field string) string { return child(c.loc, field) }

func validateIntegration(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	served := true
	switch in.Type {
	case "AWS_PROXY", "HTTP_PROXY", "MOCK":
	case "AWS", "HTTP":
		served = false
		r.warnf(c.at("type"), "type", "RES-12", "unsupported integration type %s; method %s will not be served "+
			"(proxyplus serves AWS_PROXY, HTTP_PROXY and MOCK)", in.Type, c.method)
	case "":
		r.errorf(c.at("type"), "type", "RES-12", "the integration of %s has no type", c.method)
		return
	default:
		r.errorf(c.at("type"), "type", "RES-12", "integration type %q of %s is not an API Gateway type: use AWS_PROXY, "+
			"HTTP_PROXY, MOCK, AWS or HTTP", in.Type, c.method)
		return
	}
	validateTimeout(r, in, c)
	validateEnums(r, in, c, served)
	validateRequestParameters(r, in, c)
	validateTemplates(r, in, c) // validate_templates.go
	switch in.Type {
	case "AWS_PROXY":
		validateLambda(r, in, c)
	case "HTTP_PROXY":
		validateHTTP(r, in, c)
	}
}

// validateTimeout applies RES-14: 50..29000, 0 meaning the default; above 29000 needs a quota increase on AWS.
func validateTimeout(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	t := in.TimeoutInMillis
	switch {
	case t == 0:
	case t < minTimeoutMillis:
		r.errorf(c.at("timeoutInMillis"), "timeoutInMillis", "RES-14", "timeout %d ms of %s is below API Gateway's minimum of %d ms",
			t, c.method, minTimeoutMillis)
	case t > defaultTimeoutMillis:
		r.warnf(c.at("timeoutInMillis"), "timeoutInMillis", "RES-14", "timeout %d ms of %s is above %d ms, which API Gateway "+
			"allows only after a quota increase (Regional and private APIs)", t, c.method, defaultTimeoutMillis)
	}
}

// validateEnums checks the stored-only enumerations API Gateway would refuse (OAS-4) and the connection type.
func validateEnums(r *reporter, in *apigatewayv1.Integration, c integrationContext, served bool) {
	switch in.PassthroughBehavior {
	case "", "WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER":
	default:
		r.errorf(c.at("passthroughBehavior"), "passthroughBehavior", "OAS-4", "passthroughBehavior %q of %s must be "+
			"WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER", in.PassthroughBehavior, c.method)
	}
	if !validContentHandling(in.ContentHandling) {
		r.errorf(c.at("contentHandling"), "contentHandling", "OAS-4", "contentHandling %q of %s must be CONVERT_TO_BINARY "+
			"or CONVERT_TO_TEXT", in.ContentHandling, c.method)
	}
	for _, code := range slices.Sorted(maps.Keys(in.IntegrationResponses)) {
		loc := child(c.at("integrationResponses"), code)
		ir := in.IntegrationResponses[code]
		if ir == nil {
			r.errorf(loc, "integrationResponses", "OAS-4", "integration response %q of %s is null", code, c.method)
			continue
		}
		if !validStatus(ir.StatusCode) {
			r.errorf(child(loc, "statusCode"), "statusCode", "OAS-4", "integration response status code %q of %s must be "+
				"a status code from 100 to 599", ir.StatusCode, c.method)
		} else if ir.StatusCode != code {
			r.errorf(child(loc, "statusCode"), "statusCode", "OAS-4", "integration response keyed %q of %s has status "+
				"code %q; integration responses are keyed by their status code", code, c.method, ir.StatusCode)
		}
		if !validContentHandling(ir.ContentHandling) {
			r.errorf(child(loc, "contentHandling"), "contentHandling", "OAS-4", "contentHandling %q of %s must be "+
				"CONVERT_TO_BINARY or CONVERT_TO_TEXT", ir.ContentHandling, c.method)
		}
	}
	switch in.ConnectionType {
	case "", "INTERNET":
	case "VPC_LINK":
		if served && in.Type != "MOCK" {
			r.warnf(c.at("connectionType"), "connectionType", "OAS-4", "connectionType VPC_LINK is not supported "+
				"(INTERNET only): proxyplus cannot reach a VPC link, so %s is not served; every request to it is answered "+
				"500 {\"message\": \"Internal server error\"}, what API Gateway answers when the link's target is "+
				"unreachable (HTP-15), and nothing is sent to the uri", c.method)
		}
	default:
		r.errorf(c.at("connectionType"), "connectionType", "OAS-4", "connectionType %q of %s must be INTERNET or VPC_LINK",
			in.ConnectionType, c.method)
	}
}

func validContentHandling(s string) bool {
	return s == "" || s == "CONVERT_TO_BINARY" || s == "CONVERT_TO_TEXT"
}

func validStatus(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && len(s) == 3 && n >= 100 && n <= 599
}

// validateRequestParameters applies the HTP-3 grammar to every mapping, and warns about mappings that make
// API Gateway fail every request (HTP-10 for HTTP_PROXY, EVT-29 for AWS_PROXY).
func validateRequestParameters(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	for _, key := range slices.Sorted(maps.Keys(in.RequestParameters)) {
		value := in.RequestParameters[key]
		loc := child(c.at("requestParameters"), key)
		km := integrationParamRe.FindStringSubmatch(key)
		if km == nil {
			r.errorf(loc, "requestParameters", "HTP-3", "mapping %q of %s must be integration.request.path.<name>, "+
				"integration.request.querystring.<name> or integration.request.header.<name>, the name made of letters, "+
				"digits and . _ $ -", key, c.method)
			continue
		}
		validateSource(r, value, loc, c)
		if km[1] != "header" {
			continue
		}
		h := strings.ToLower(km[2])
		switch {
		case in.Type == "HTTP_PROXY" && httpForbiddenHeaders[h]:
			r.warnf(loc, "requestParameters", "HTP-10", "mapping the %s header makes every invocation of %s fail with 500 "+
				"Internal server error on API Gateway; proxyplus reproduces that", km[2], c.method)
		case in.Type == "AWS_PROXY" && lambdaForbiddenHeaders[h]:
			r.warnf(loc, "requestParameters", "EVT-29", "mapping the %s header makes every invocation of %s fail with 500 "+
				"Internal server error on API Gateway; proxyplus reproduces that", km[2], c.method)
		}
	}
}

// validateSource checks the value side of one mapping (HTP-3).
func validateSource(r *reporter, value, loc string, c integrationContext) {
	switch {
	case strings.HasPrefix(value, "'"):
		if len(value) < 2 || !strings.HasSuffix(value, "'") {
			r.errorf(loc, "requestParameters", "HTP-3", "static value %s of %s must be enclosed in single quotes", value, c.method)
		}
	case value == "method.request.body" || strings.HasPrefix(value, "method.request.body."):
		r.warnf(loc, "requestParameters", "HTP-3", "mapping from the request body (%s) of %s is not supported; the "+
			"mapping is ignored", value, c.method)
	case methodSourceRe.MatchString(value):
		m := methodSourceRe.FindStringSubmatch(value)
		if !c.declared[paramKey(m[1], m[2])] {
			r.errorf(loc, "requestParameters", "HTP-3", "mapping source %s of %s is not a declared method request "+
				"parameter: declare %s", value, c.method, declaredName(m[1], m[2]))
		}
	case stageVarSourceRe.MatchString(value), contextSourceRe.MatchString(value):
	default:
		r.errorf(loc, "requestParameters", "HTP-3", "mapping source %q of %s must be method.request.{path|querystring|"+
			"multivaluequerystring|header|multivalueheader}.<name>, stageVariables.<name>, context.<name> or a static "+
			"'value'", value, c.method)
	}
}

func declaredName(where, name string) string {
	switch where {
	case "multivalueheader":
		where = "header"
	case "multivaluequerystring":
		where = "querystring"
	}
	return "method.request." + where + "." + name
}

// validateLambda applies RES-13 and RES-17 to an AWS_PROXY integration.
func validateLambda(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	switch {
	case in.HttpMethod == "":
		r.errorf(c.at("httpMethod"), "httpMethod", "RES-13", "the AWS_PROXY integration of %s has no httpMethod: use POST", c.method)
	case in.HttpMethod != "POST":
		r.warnf(c.at("httpMethod"), "httpMethod", "RES-13", "AWS_PROXY integration httpMethod is %s, not POST: API Gateway "+
			"accepts this but every invocation of %s fails with 500 Internal server error; proxyplus reproduces that",
			in.HttpMethod, c.method)
	}
	if in.Uri == "" {
		r.errorf(c.at("uri"), "uri", "RES-17", "the AWS_PROXY integration of %s has no uri", c.method)
		return
	}
	if !validLambdaURI(in.Uri) {
		r.errorf(c.at("uri"), "uri", "RES-17", "uri %q of %s is not a Lambda function: use "+
			"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations, a function ARN or a "+
			"function name", in.Uri, c.method)
	}
}

// validLambdaURI accepts API Gateway's invocation ARN and, for hand-written definitions, the function ARN or name
// it wraps. Stage variable references stand for any valid text, since they are resolved per stage.
func validLambdaURI(uri string) bool {
	u := stageVarRefRe.ReplaceAllString(uri, "000000000000")
	if m := lambdaInvokeURIRe.FindStringSubmatch(u); m != nil {
		u = m[1]
	}
	return functionARNRe.MatchString(u) || functionNameRe.MatchString(u)
}

// validateHTTP applies HTP-7, RES-15 and HTP-1 to an HTTP_PROXY integration.
func validateHTTP(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	if !methodNames[in.HttpMethod] {
		r.errorf(c.at("httpMethod"), "httpMethod", "HTP-7", "HTTP_PROXY integration httpMethod %q of %s must be DELETE, GET, "+
			"HEAD, OPTIONS, PATCH, POST, PUT or ANY (the client's method)", in.HttpMethod, c.method)
	}
	if in.Uri == "" {
		r.errorf(c.at("uri"), "uri", "RES-15", "the HTTP_PROXY integration of %s has no uri", c.method)
		return
	}
	if msg := checkHTTPURI(in.Uri); msg != "" {
		r.errorf(c.at("uri"), "uri", "RES-15", "uri %q of %s %s", in.Uri, c.method, msg)
	}
	for _, m := range placeholderRe.FindAllStringSubmatch(in.Uri, -1) {
		if strings.HasPrefix(m[0], "$") {
			continue
		}
		if _, ok := in.RequestParameters["integration.request.path."+m[1]]; !ok {
			r.errorf(c.at("uri"), "uri", "HTP-1", "placeholder {%s} in the uri of %s has no integration.request.path.%s "+
				"mapping in requestParameters", m[1], c.method, m[1])
		}
	}
}

// checkHTTPURI returns why uri is not an absolute http(s) URL on an allowed port (RES-15), or "".
// Stage variables may stand for any part; what they hide is checked when the stage is resolved.
func checkHTTPURI(uri string) string {
	if strings.HasPrefix(uri, "${stageVariables.") {
		return ""
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "must be an absolute http:// or https:// URL"
	}
	if s := strings.ToLower(scheme); s != "http" && s != "https" {
		return "must use http or https, not " + strconv.Quote(scheme)
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "has an unterminated IPv6 address"
		}
		host = authority[:end+1]
		rem := authority[end+1:]
		if rem != "" && !strings.HasPrefix(rem, ":") {
			return "has an invalid host"
		}
		port = strings.TrimPrefix(rem, ":")
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
	}
	if host == "" {
		return "has no host"
	}
	if port == "" || strings.Contains(port, "${stageVariables.") {
		return ""
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.Trim(port, "0123456789") != "" {
		return "has an invalid port " + strconv.Quote(port)
	}
	if n != 80 && n != 443 && (n < 1024 || n > 65535) {
		return "uses port " + port + ": API Gateway allows only 80, 443 and 1024-65535"
	}
	return ""
}
