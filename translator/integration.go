package translator

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

const internalServerError = `{"message": "Internal server error"}`

// gatewayError500 is the answer for integrations AWS accepts but fails on every request (RES-13, EVT-29, HTP-10).
func gatewayError500() *ir.Integration {
	return &ir.Integration{Type: ir.GatewayError, GatewayError: &ir.GatewayErrorResponse{
		StatusCode: 500, Body: internalServerError, ErrorType: "InternalServerErrorException"}}
}

func translateIntegration(file, loc string, m *apigatewayv1.Method, res *apigatewayv1.Resource, vars map[string]string) (*ir.Integration, diag.List) {
	in := m.GetIntegration()
	d := func(sev diag.Severity, field, rule, format string, args ...any) diag.Diagnostic {
		return diag.Diagnostic{Severity: sev, File: file, Path: loc, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
	}
	if in == nil {
		return nil, diag.List{d(diag.Error, "integration", "RES-9", "method has no integration")}
	}
	timeout := DefaultIntegrationTimeout
	if in.GetTimeoutInMillis() > 0 {
		timeout = time.Duration(in.GetTimeoutInMillis()) * time.Millisecond
	}
	typ := strings.ToUpper(in.GetType())
	if strings.EqualFold(in.GetConnectionType(), "VPC_LINK") && (typ == "AWS_PROXY" || typ == "HTTP_PROXY") {
		// The uri of a VPC link integration names a host inside the VPC (often a load balancer's private DNS name),
		// reached through the link: sending the request to it over the internet would reach something else or
		// nothing. proxyplus has no VPC link, so it answers as API Gateway does when the link's target is
		// unreachable (HTP-15) and never forwards.
		return gatewayError500(), diag.List{d(diag.Warning, "connectionType", "OAS-4",
			"connectionType VPC_LINK (connectionId %q) is not supported: this method is not served; every request is "+
				"answered 500 {\"message\": \"Internal server error\"} as API Gateway answers when the VPC link's target "+
				"is unreachable, and nothing is sent to %q", in.GetConnectionId(), in.GetUri())}
	}
	switch typ {
	case "MOCK":
		// Mock is built by translateStage (mockRoute.translate), which knows the stage and its gateway responses.
		return &ir.Integration{Type: ir.Mock}, nil
	case "AWS_PROXY":
		if hdr := forbiddenMappedHeader(in, lambdaForbiddenHeaders); hdr != "" {
			return gatewayError500(), diag.List{d(diag.Warning, "requestParameters", "EVT-29",
				"AWS_PROXY integration maps header %s: API Gateway fails every invocation of this method with 500, and so does proxyplus", hdr)}
		}
		if hm := strings.ToUpper(in.GetHttpMethod()); hm != "POST" {
			return gatewayError500(), diag.List{d(diag.Warning, "httpMethod", "RES-13",
				"AWS_PROXY integration httpMethod is %q, not POST: API Gateway answers every request with 500, and so does proxyplus", in.GetHttpMethod())}
		}
		uri, err := substituteStageVariables(in.GetUri(), vars)
		if err != nil {
			return nil, diag.List{d(diag.Error, "uri", "RES-17", "%v", err)}
		}
		fn, region, err := FunctionFromURI(uri)
		if err != nil {
			return nil, diag.List{d(diag.Error, "uri", "RES-17", "%v", err)}
		}
		return &ir.Integration{Type: ir.AWSProxy, Lambda: &ir.LambdaIntegration{FunctionARN: fn, Region: region, Timeout: ir.Duration(timeout)}}, nil
	case "HTTP_PROXY":
		if hdr := forbiddenMappedHeader(in, httpForbiddenHeaders); hdr != "" {
			return gatewayError500(), diag.List{d(diag.Warning, "requestParameters", "HTP-10",
				"HTTP_PROXY integration maps header %s: API Gateway fails every invocation of this method with 500, and so does proxyplus", hdr)}
		}
		h, ds := translateHTTPProxy(in, res, strings.ToUpper(m.GetHttpMethod()), vars, timeout)
		for i := range ds {
			ds[i].File, ds[i].Path = file, loc
		}
		if ds.Err() != nil {
			return nil, ds
		}
		if h.Processor {
			ds = append(ds, d(diag.Warning, "requestParameters", "RTM-12",
				"cannot be expressed in Envoy route configuration (%s); this method is served with the ext_proc service rewriting the request headers",
				strings.Join(h.ProcessorReasons, "; ")))
		}
		return &ir.Integration{Type: ir.HTTPProxy, HTTP: h}, ds
	default:
		return nil, diag.List{d(diag.Warning, "type", "RES-12",
			"integration type %q is not supported (only HTTP_PROXY, AWS_PROXY and MOCK); this method is not served and answers 403 like an undefined method", in.GetType())}
	}
}

// mockStatus is the status of the default integration response (empty selection pattern), 200 without one.
func mockStatus(in *apigatewayv1.Integration) uint32 {
	for _, r := range in.GetIntegrationResponses() {
		if r.GetSelectionPattern() == "" {
			if n, err := strconv.Atoi(r.GetStatusCode()); err == nil && n >= 100 && n <= 599 {
				return uint32(n)
			}
		}
	}
	return 200
}

var (
	lambdaForbiddenHeaders = []string{"content-length", "transfer-encoding", "authorization", "connection", "expect", "proxy-authenticate", "te"}
	httpForbiddenHeaders   = []string{"content-length", "transfer-encoding"}
)

func forbiddenMappedHeader(in *apigatewayv1.Integration, names []string) string {
	keys := slices.Sorted(maps.Keys(in.GetRequestParameters()))
	for _, k := range keys {
		if h, ok := strings.CutPrefix(k, "integration.request.header."); ok {
			for _, n := range names {
				if strings.EqualFold(h, n) {
					return h
				}
			}
		}
	}
	return ""
}

var stageVarRef = regexp.MustCompile(`\$\{stageVariables\.([A-Za-z0-9_]+)\}`)

// substituteStageVariables resolves ${stageVariables.x} (HTP-2, RES-17). An undefined variable is an error for
// this stage: API Gateway would build a broken URL at request time.
func substituteStageVariables(s string, vars map[string]string) (string, error) {
	var missing []string
	out := stageVarRef.ReplaceAllStringFunc(s, func(m string) string {
		name := stageVarRef.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("uri %q uses stage variable(s) %s that the stage does not define", s, strings.Join(missing, ", "))
	}
	return out, nil
}

var lambdaURI = regexp.MustCompile(`^arn:aws[a-z-]*:apigateway:([a-z0-9-]+):lambda:path/2015-03-31/functions/(.+)/invocations$`)

// FunctionFromURI extracts the function from an AWS_PROXY uri (RES-17): the API Gateway form, a Lambda ARN or a
// bare function name (for local functions). The region comes from the function ARN when it has one.
func FunctionFromURI(uri string) (function, region string, err error) {
	if m := lambdaURI.FindStringSubmatch(uri); m != nil {
		function, region = m[2], m[1]
	} else {
		function = uri
	}
	if function == "" {
		return "", "", fmt.Errorf("AWS_PROXY uri is empty")
	}
	if strings.HasPrefix(function, "arn:") {
		parts := strings.Split(function, ":")
		if len(parts) < 7 || parts[2] != "lambda" || parts[5] != "function" {
			return "", "", fmt.Errorf("AWS_PROXY uri %q: %q is not a Lambda function ARN", uri, function)
		}
		region = parts[3]
	} else if strings.ContainsAny(function, "/ ") {
		return "", "", fmt.Errorf("AWS_PROXY uri %q is neither arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations, a function ARN nor a function name", uri)
	}
	return function, region, nil
}

// deploymentID is a stable id for what a stage serves: derived from the definition's content.
func deploymentID(def *apigatewayv1.RestApi, st *apigatewayv1.Stage) string {
	b, _ := deploymentEncoding.Marshal(def)
	sum := sha256.Sum256(append(b, []byte(st.GetStageName())...))
	return deploymentIDFromSum(sum[:])
}

// deploymentIDFromSum is the deployment id of a SHA-256 sum (deploymentID).
func deploymentIDFromSum(sum []byte) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 6)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out)
}

// backendOf parses scheme, host and port of an integration URL; ports per RES-15.
func backendOf(u *url.URL, insecure bool) (ir.Backend, error) {
	b := ir.Backend{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Hostname()), InsecureSkipVerify: insecure}
	switch b.Scheme {
	case "http":
		b.Port = 80
	case "https":
		b.Port = 443
	default:
		return b, fmt.Errorf("uri scheme %q: HTTP_PROXY needs http or https", u.Scheme)
	}
	if b.Host == "" {
		return b, fmt.Errorf("uri has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return b, fmt.Errorf("uri port %q is not a port number", p)
		}
		if n != 80 && n != 443 && n < 1024 {
			return b, fmt.Errorf("uri port %d: API Gateway allows only 80, 443 and 1024-65535 (RES-15)", n)
		}
		b.Port = uint32(n)
	}
	return b, nil
}
