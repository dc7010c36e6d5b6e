// Package ir is proxyplus's proto-free intermediate representation: what the translator makes of API
// definitions and stages, and what the xDS builders turn into Envoy resources. It imports no Envoy or
// go-control-plane package, so routing semantics can be reviewed and tested without Envoy types.
package ir

import (
	"fmt"
	"strings"
	"time"
)

// Config is one configuration generation: everything one Envoy listener serves.
type Config struct {
	Listener Listener `json:"listener"`
	// APIs in a deterministic order (by id).
	APIs []API `json:"apis"`
	// ExtProc is the ext_proc service Envoy calls for routes that need it (Lambda proxy routes and the HTTP_PROXY
	// mappings route configuration cannot express).
	ExtProc ExtProcService `json:"extProc"`
	// ExecuteAPIDomain is the domain suffix of execute-api style hosts ("{apiId}.execute-api.{region}.amazonaws.com"
	// is always served; this adds "{apiId}.{ExecuteAPIDomain}").
	ExecuteAPIDomain string `json:"executeApiDomain,omitempty"`
	// AccessLog is where Envoy writes access-log lines (xds/builder/accesslog.go); nil is stdout.
	AccessLog *AccessLogSink `json:"accessLog,omitempty"`
	// Tracing, when set, makes Envoy send sampled X-Ray segments to a daemon; nil samples nothing.
	Tracing *TracingSettings `json:"tracing,omitempty"`
}

// TracingSettings is Envoy's X-Ray export: Daemon is the X-Ray daemon's (or an OpenTelemetry collector's awsxray
// receiver's) UDP host:port, SampleRate the share of requests sampled (0..1) when the client's header does not
// decide.
type TracingSettings struct {
	Daemon     string  `json:"daemon"`
	SampleRate float64 `json:"sampleRate"`
}

// Access-log sinks.
const (
	AccessLogStdout = "stdout"
	AccessLogFile   = "file"
	AccessLogOTel   = "otel" // OpenTelemetry logs service over gRPC (Envoy's open_telemetry access logger)
	AccessLogGRPC   = "grpc" // Envoy's gRPC access-log service (structured entries; formats do not apply)
	AccessLogOff    = "off"
)

// AccessLogSink names where the access log goes: Kind is one of the AccessLog* constants ("" is stdout); Path the
// file of "file"; Cluster the Envoy cluster (defined in Envoy's bootstrap) of "otel" and "grpc".
type AccessLogSink struct {
	Kind    string `json:"kind,omitempty"`
	Path    string `json:"path,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// Listener is the address Envoy binds for API traffic.
type Listener struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// ExtProcService names the processor cluster.
type ExtProcService struct {
	ClusterName string `json:"clusterName"`
	// Address is host:port or unix:/path.
	Address string `json:"address"`
	// MessageTimeout is above the largest integration timeout of the configuration (envoy-notes EXT-11).
	MessageTimeout Duration `json:"messageTimeout"`
	// RouteKeys sign the route data each route sends the processor (EncodeProcessorRoute); never written out.
	RouteKeys RouteKeys `json:"-"`
	// TLS, when set, makes Envoy reach the processor over TLS.
	TLS *ExtProcTLS `json:"tls,omitempty"`
}

// ExtProcTLS is how Envoy connects to the processor over TLS. Certificates and keys are files on Envoy's side,
// named in Envoy's bootstrap as static secrets (`proxyplus bootstrap --extproc-tls-*`), so the control plane
// needs no path of any Envoy's file system.
type ExtProcTLS struct {
	// ServerName is the SNI sent and the DNS name (or IP address) the processor's certificate must carry.
	ServerName string `json:"serverName"`
	// ClientCertificate makes Envoy present its certificate (mTLS).
	ClientCertificate bool `json:"clientCertificate,omitempty"`
}

// API is one REST API with its deployed stages.
type API struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Hosts            []string `json:"hosts"`
	BinaryMediaTypes []string `json:"binaryMediaTypes,omitempty"`
	Stages           []Stage  `json:"stages"`
	// ServeUnauthenticatedInsecure is the API's opt-out: routes that require authorization proxyplus does not
	// enforce are served open instead of refusing every request (Route.Authorization).
	ServeUnauthenticatedInsecure bool `json:"serveUnauthenticatedInsecure,omitempty"`
}

// Stage is one deployed stage. Routes are in first-match order (apigateway-rest RTE-11).
type Stage struct {
	Name         string            `json:"name"`
	DeploymentID string            `json:"deploymentId"`
	Variables    map[string]string `json:"variables,omitempty"`
	Routes       []Route           `json:"routes"`
	// AccessLog is the stage's access-log format; nil logs the stage in proxyplus's default JSON format.
	AccessLog *AccessLogSettings `json:"accessLog,omitempty"`
	// GatewayResponses are the customised gateway responses by type (x-amazon-apigateway-gateway-responses),
	// stage variables resolved for this stage.
	GatewayResponses map[string]GatewayResponse `json:"gatewayResponses,omitempty"`
}

// SegmentKind is the kind of one resource path segment.
type SegmentKind int

const (
	Literal SegmentKind = iota // "pets"
	Param                      // "{petId}"
	Greedy                     // "{proxy+}"
)

// Segment is one segment of a resource path template.
type Segment struct {
	Kind SegmentKind `json:"kind"`
	// Text is the literal text, or the parameter name without braces and "+".
	Text string `json:"text"`
}

// Route is one (resource, method) pair of a stage.
type Route struct {
	// Name is "<apiId>/<stage>/<resourceId>/<METHOD>", the route's identity in Envoy and in logs.
	Name         string    `json:"name"`
	ResourceID   string    `json:"resourceId"`
	ResourcePath string    `json:"resourcePath"`
	Segments     []Segment `json:"segments"`
	// Method is the resource method: DELETE GET HEAD OPTIONS PATCH POST PUT, or ANY.
	Method        string      `json:"method"`
	OperationName string      `json:"operationName,omitempty"`
	Integration   Integration `json:"integration"`
	// Authorization is what the method requires of a caller before the integration runs; nil when nothing.
	Authorization *Authorization `json:"authorization,omitempty"`
	// Source, when not zero, is a content key of everything the route was translated from (its method and
	// resource, its stage and API settings; translator.Cache sets it): two routes with the same Source are equal.
	// Incremental builders (xds/builder Builder) key their per-route caches on it instead of hashing the route.
	// Zero (IR written by hand, translator.TranslateAPI) means unknown: the route is built afresh every time.
	Source SourceKey `json:"-"`
}

// SourceKey is a route's content key (Route.Source): a SHA-256.
type SourceKey [32]byte

// Authorization types of API Gateway methods (Method.authorizationType) other than NONE.
const (
	AuthCustom   = "CUSTOM" // Lambda authorizer, TOKEN or REQUEST
	AuthCognito  = "COGNITO_USER_POOLS"
	AuthAWSIAM   = "AWS_IAM"
	authNoneType = "NONE"
)

// Authorization is a method's access control: an authorizer (or AWS_IAM) and/or an API key.
type Authorization struct {
	// Type is CUSTOM, COGNITO_USER_POOLS or AWS_IAM; empty when only an API key is required.
	Type           string `json:"type,omitempty"`
	APIKeyRequired bool   `json:"apiKeyRequired,omitempty"`
	// Lambda is the method's Lambda authorizer (Type CUSTOM), which the processor runs; nil when the method's
	// authorizer is not a Lambda authorizer proxyplus can run (the method is then refused, fail-closed).
	Lambda *LambdaAuthorizer `json:"lambda,omitempty"`
	// APIKeySource is HEADER (x-api-key; the default) or AUTHORIZER, for APIKeyRequired.
	APIKeySource string `json:"apiKeySource,omitempty"`
	// Cognito is the user pool authorizer of a COGNITO_USER_POOLS method.
	Cognito *CognitoAuthorizer `json:"cognito,omitempty"`
}

// Lambda authorizer types (Authorizer.type).
const (
	AuthorizerToken   = "TOKEN"
	AuthorizerRequest = "REQUEST"
)

// LambdaAuthorizer is a TOKEN or REQUEST authorizer as one stage runs it (AUTHORIZERS.md §1-§4).
type LambdaAuthorizer struct {
	// Name is the authorizer's name (the security scheme's), part of the cache key.
	Name string `json:"name"`
	// Type is TOKEN or REQUEST.
	Type string `json:"type"`
	// FunctionARN is the authorizer function (from authorizerUri), invoked through the integrations' invoker.
	FunctionARN string `json:"functionArn"`
	// Region is the region of the method ARN (the authorizerUri's).
	Region string `json:"region,omitempty"`
	// IdentitySources are where the identity comes from, in the order declared; for TOKEN exactly one header.
	// Stage variables are resolved to FromStatic values.
	IdentitySources []ValueSource `json:"identitySources"`
	// ValidationExpression is identityValidationExpression (TOKEN only): a token that does not match is refused.
	ValidationExpression string `json:"validationExpression,omitempty"`
	// TTL is authorizerResultTtlInSeconds; 0 disables the cache.
	TTL Duration `json:"ttl"`
}

// NewAuthorization is the requirement of a method with API Gateway's authorizationType and apiKeyRequired, on an
// API whose apiKeySource is apiKeySource (HEADER when empty); nil when it requires nothing.
func NewAuthorization(authorizationType string, apiKeyRequired bool, apiKeySource string) *Authorization {
	if authorizationType == authNoneType {
		authorizationType = ""
	}
	if authorizationType == "" && !apiKeyRequired {
		return nil
	}
	a := &Authorization{Type: authorizationType, APIKeyRequired: apiKeyRequired}
	if apiKeyRequired {
		a.APIKeySource = APIKeySourceHeader
		if apiKeySource != "" {
			a.APIKeySource = apiKeySource
		}
	}
	return a
}

// Unauthenticated is API Gateway's answer to a request that carries no credentials at all (AUTHORIZERS.md §1, §5,
// §6; apigateway-rest ERR-2): the authorizer comes first, so a missing token is refused before the API key is
// looked at.
//   - Lambda (TOKEN or REQUEST) and Cognito authorizers: 401 {"message":"Unauthorized"}, UnauthorizedException.
//   - AWS_IAM without a signature: 403 {"message":"Missing Authentication Token"}, the MISSING_AUTHENTICATION_TOKEN
//     gateway response, which AWS documents for missing authentication as well as for unknown resources.
//   - API key missing: 403 {"message":"Forbidden"}; its x-amzn-ErrorType is unrecorded, proxyplus sends
//     ForbiddenException as for the other 403 Forbidden (RTE-17).
func (a *Authorization) Unauthenticated() GatewayErrorResponse {
	switch a.Type {
	case "":
	case AuthAWSIAM:
		return GatewayErrorResponse{StatusCode: 403, Body: `{"message":"Missing Authentication Token"}`, ErrorType: "MissingAuthenticationTokenException"}
	default:
		return GatewayErrorResponse{StatusCode: 401, Body: `{"message":"Unauthorized"}`, ErrorType: "UnauthorizedException"}
	}
	return GatewayErrorResponse{StatusCode: 403, Body: `{"message":"Forbidden"}`, ErrorType: "ForbiddenException"}
}

// Refusal is the answer route r of api gives every request because it requires authorization proxyplus does not
// enforce yet (fail-closed); nil when the route is served: it requires nothing, proxyplus enforces what it
// requires (a Lambda authorizer, run by the processor), or the API opted out.
func (api API) Refusal(r Route) *GatewayErrorResponse {
	if r.Authorization == nil || api.ServeUnauthenticatedInsecure || r.Authorization.Enforced() {
		return nil
	}
	refusal := r.Authorization.Unauthenticated()
	return &refusal
}

// String names the requirement for messages: "a Lambda authorizer (CUSTOM) and an API key".
func (a *Authorization) String() string {
	var parts []string
	switch a.Type {
	case "":
	case AuthCustom:
		parts = append(parts, "a Lambda authorizer (CUSTOM)")
	case AuthCognito:
		parts = append(parts, "a Cognito user pool authorizer (COGNITO_USER_POOLS)")
	case AuthAWSIAM:
		parts = append(parts, "IAM signatures (AWS_IAM)")
	default:
		parts = append(parts, "authorization type "+a.Type)
	}
	switch {
	case a.APIKeyRequired && a.APIKeySource == APIKeySourceAuthorizer:
		parts = append(parts, "an API key from its Lambda authorizer (apiKeySource AUTHORIZER)")
	case a.APIKeyRequired:
		parts = append(parts, "an API key")
	}
	return strings.Join(parts, " and ")
}

// IntegrationType is what serves a route.
type IntegrationType string

const (
	HTTPProxy IntegrationType = "HTTP_PROXY"
	AWSProxy  IntegrationType = "AWS_PROXY"
	Mock      IntegrationType = "MOCK"
	// GatewayError answers every request with a fixed API Gateway error: integrations that AWS accepts at
	// configuration time but fail at request time (RES-13, EVT-29, HTP-10).
	GatewayError IntegrationType = "GATEWAY_ERROR"
)

// Integration is the backend of a route; exactly one of the pointers matching Type is set.
type Integration struct {
	Type         IntegrationType       `json:"type"`
	HTTP         *HTTPIntegration      `json:"http,omitempty"`
	Lambda       *LambdaIntegration    `json:"lambda,omitempty"`
	Mock         *MockIntegration      `json:"mock,omitempty"`
	GatewayError *GatewayErrorResponse `json:"gatewayError,omitempty"`
}

// LambdaIntegration is an AWS_PROXY integration.
type LambdaIntegration struct {
	// FunctionARN is the function (ARN or name, qualifier included) with stage variables resolved.
	FunctionARN string   `json:"functionArn"`
	Region      string   `json:"region,omitempty"`
	Timeout     Duration `json:"timeout"`
}

// MockIntegration answers without a backend (mock.go).
type MockIntegration struct {
	// StatusCode is the status of the default integration response (200 without one).
	StatusCode uint32 `json:"statusCode"`
	MockTemplates
}

// GatewayErrorResponse is a fixed gateway-generated error.
type GatewayErrorResponse struct {
	StatusCode uint32 `json:"statusCode"`
	Body       string `json:"body"`
	ErrorType  string `json:"errorType"`
}

// Backend is the upstream of an HTTP_PROXY integration; one Envoy cluster per distinct Backend.
type Backend struct {
	Scheme             string `json:"scheme"`
	Host               string `json:"host"`
	Port               uint32 `json:"port"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// HTTPIntegration is an HTTP_PROXY integration with stage variables resolved.
type HTTPIntegration struct {
	Backend Backend `json:"backend"`
	// Method is the fixed upstream method; empty forwards the client's (integration httpMethod ANY).
	Method string `json:"method,omitempty"`
	// Path is the upstream path template: literal text and {name} placeholders.
	Path []PathPart `json:"path"`
	// Query is the integration uri's own query, as parameters whose values may hold placeholders.
	Query []QueryPart `json:"query,omitempty"`
	// Placeholders maps each {name} of Path and Query to its source (integration.request.path.name).
	Placeholders map[string]ValueSource `json:"placeholders,omitempty"`
	// QueryMappings are integration.request.querystring.* mappings, in name order.
	QueryMappings []Mapping `json:"queryMappings,omitempty"`
	// HeaderMappings are integration.request.header.* mappings, in name order.
	HeaderMappings []Mapping `json:"headerMappings,omitempty"`
	Timeout        Duration  `json:"timeout"`
	// Processor is set when route configuration cannot express the integration (envoy-notes RTM-12): the
	// ext_proc service rewrites method, path and query in headers-only mode. Reasons says why.
	Processor        bool     `json:"processor,omitempty"`
	ProcessorReasons []string `json:"processorReasons,omitempty"`
}

// PathPart is literal text or a placeholder of the upstream path.
type PathPart struct {
	Literal     string `json:"literal,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
}

// QueryPart is one name=value of the uri's query; Value may contain placeholders.
type QueryPart struct {
	Name  string     `json:"name"`
	Value []PathPart `json:"value"`
}

// SourceKind says where a mapped value comes from.
type SourceKind string

const (
	FromPath        SourceKind = "path"
	FromQuery       SourceKind = "querystring"
	FromMultiQuery  SourceKind = "multivaluequerystring"
	FromHeader      SourceKind = "header"
	FromMultiHeader SourceKind = "multivalueheader"
	FromStatic      SourceKind = "static"
	FromContext     SourceKind = "context"
)

// ValueSource is the right-hand side of a parameter mapping; stage variables are resolved to FromStatic.
type ValueSource struct {
	Kind SourceKind `json:"kind"`
	// Name is the parameter, header or context variable name, or the static value.
	Name string `json:"name"`
}

// Mapping sets one upstream query parameter or header from a source.
type Mapping struct {
	Name   string      `json:"name"`
	Source ValueSource `json:"source"`
}

// ProcessorRoute is everything the ext_proc service needs to serve one route. The xDS builders encode it into the
// route's per-route ext_proc gRPC initial metadata, so it reaches the service from Envoy's configuration for the
// matched route, signed with the control plane's route key (EncodeProcessorRoute): the service acts on no route
// data it cannot verify, and keeps no copy of the definitions.
type ProcessorRoute struct {
	APIID            string            `json:"apiId"`
	Stage            string            `json:"stage"`
	DeploymentID     string            `json:"deploymentId"`
	StageVariables   map[string]string `json:"stageVariables,omitempty"`
	BinaryMediaTypes []string          `json:"binaryMediaTypes,omitempty"`
	Route            Route             `json:"route"`
	// GatewayResponses are the stage's customised gateway responses, for the errors the processor answers.
	GatewayResponses map[string]GatewayResponse `json:"gatewayResponses,omitempty"`
}

// Timeout is the integration timeout, zero for integrations that call no backend.
func (i Integration) Timeout() time.Duration {
	switch {
	case i.HTTP != nil:
		return time.Duration(i.HTTP.Timeout)
	case i.Lambda != nil:
		return time.Duration(i.Lambda.Timeout)
	}
	return 0
}

// AnyMethods are the methods API Gateway's ANY covers (RTE-12); any other method matches nothing.
var AnyMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

var segmentKindNames = [...]string{Literal: "literal", Param: "param", Greedy: "greedy"}

// MarshalText writes the kind's name, so IR files read "greedy" rather than 2.
func (k SegmentKind) MarshalText() ([]byte, error) {
	if int(k) < 0 || int(k) >= len(segmentKindNames) {
		return nil, fmt.Errorf("segment kind %d", int(k))
	}
	return []byte(segmentKindNames[k]), nil
}

// UnmarshalText reads a kind's name.
func (k *SegmentKind) UnmarshalText(b []byte) error {
	for i, n := range segmentKindNames {
		if n == string(b) {
			*k = SegmentKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown segment kind %q", b)
}

// Duration is a time.Duration written as "29s" in IR files.
type Duration time.Duration

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
