package ir

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// RouteMetadataKey carries a route's ProcessorRoute to the ext_proc service as per-route gRPC initial metadata
// (EncodeProcessorRoute).
const RouteMetadataKey = "x-proxyplus-route"

// MaxRouteMetadataBytes is the longest value Envoy accepts: HeaderValue.value is max_bytes 16384
// (api/envoy/config/core/v3/base.proto, validated in the unpacked per-route ExtProcPerRoute; main 1.37.0-dev,
// 321a098d81). A processor refuses longer values before reading them.
const MaxRouteMetadataBytes = 16384

// routeFormat is the version of the value's layout: "v1.<key id>.<payload>.<mac>". The payload is compact JSON
// (routeWire) in printable ASCII without '%': Envoy reads grpc_initial_metadata values as header formatters,
// where '%' starts a command (Router::HeaderParser::configure via Grpc::AsyncClientImpl, source/common/grpc/
// async_client_impl.cc, main 1.37.0-dev, 321a098d81), and gRPC metadata values are printable ASCII. The MAC is
// HMAC-SHA256 (truncated to macBytes) with the key named by the key id over everything before the last '.',
// base64url.
const routeFormat = "v1"

// unsignedKeyID marks a value built without a route key (`translate` without --route-key-file): readable, never
// accepted by a processor. Derived key ids are 8 characters, so it names no key.
const unsignedKeyID = "0"

// routeWire is what the processor needs of a route, with one-letter names. Left out: segments and the route name
// (the resource path and ids give them back), the Lambda region (the invoker reads the function ARN), an
// HTTP_PROXY route's backend, timeout and stage variables (Envoy's cluster and route hold the first two, the
// rewrite has the third resolved already), which integrations the processor never serves.
type routeWire struct {
	APIID string `json:"a"`
	Stage string `json:"s"`
	// DeploymentID is empty in what the xDS builders issue: the route takes its stage's deployment id from the
	// API's deployment value (DeploymentMetadataKey, deployment.go), so a deployment changes no route's data.
	DeploymentID string            `json:"d,omitempty"`
	Variables    map[string]string `json:"v,omitempty"`
	Binary       []string          `json:"b,omitempty"`
	ResourceID   string            `json:"r"`
	ResourcePath string            `json:"p"`
	Method       string            `json:"m"`
	Operation    string            `json:"o,omitempty"`
	// Type is set only when neither Lambda nor HTTP says it.
	Type   IntegrationType `json:"t,omitempty"`
	Lambda *lambdaWire     `json:"l,omitempty"`
	HTTP   *httpWire       `json:"h,omitempty"`
	// Authorizer is the route's Lambda authorizer, which the processor runs before the integration.
	Authorizer *authorizerWire `json:"z,omitempty"`
	Mock       *mockWire       `json:"k,omitempty"`
	// Gateway are the stage's customised gateway responses (mock.go), only on routes whose processor answers
	// gateway errors.
	Gateway map[string]GatewayResponse `json:"g,omitempty"`
	// Auth is the route's requirement as the authorization service (authz, over ext_authz) checks it: the API key
	// and the Cognito user pool authorizer. The Lambda authorizer travels in Authorizer ("z"), not here.
	Auth *authWire `json:"y,omitempty"`
}

type authWire struct {
	Type         string             `json:"t,omitempty"`
	APIKey       bool               `json:"k,omitempty"`
	APIKeySource string             `json:"s,omitempty"`
	Cognito      *CognitoAuthorizer `json:"c,omitempty"`
}

type authorizerWire struct {
	Name     string        `json:"n"`
	Type     string        `json:"t"`
	Function string        `json:"f"`
	Region   string        `json:"g,omitempty"`
	Sources  []ValueSource `json:"i"`
	Validate string        `json:"e,omitempty"`
	TTL      Duration      `json:"c"`
	// APIKey is set when the method also requires an API key.
	APIKey bool `json:"k,omitempty"`
}

type lambdaWire struct {
	Function string   `json:"f"`
	Timeout  Duration `json:"t"`
}

type httpWire struct {
	Method         string                 `json:"m,omitempty"`
	Path           []PathPart             `json:"p"`
	Query          []QueryPart            `json:"q,omitempty"`
	Placeholders   map[string]ValueSource `json:"x,omitempty"`
	QueryMappings  []Mapping              `json:"qm,omitempty"`
	HeaderMappings []Mapping              `json:"hm,omitempty"`
}

// gatewayTemplatesReadStageVariables reports whether a template of grs refers to $stageVariables.
func gatewayTemplatesReadStageVariables(grs map[string]GatewayResponse) bool {
	for _, gr := range grs {
		for _, t := range gr.Templates {
			if strings.Contains(t.Template, "stageVariables") {
				return true
			}
		}
	}
	return false
}

// EncodeProcessorRoute is the value of RouteMetadataKey, signed with the first of keys (unsigned without keys:
// a processor refuses it). A value longer than Envoy accepts is an error naming the API, stage and resource.
func EncodeProcessorRoute(pr ProcessorRoute, keys RouteKeys) (string, error) {
	w := routeWire{APIID: pr.APIID, Stage: pr.Stage, DeploymentID: pr.DeploymentID, ResourceID: pr.Route.ResourceID,
		ResourcePath: pr.Route.ResourcePath, Method: pr.Route.Method, Operation: pr.Route.OperationName}
	switch in := pr.Route.Integration; {
	case in.Type == AWSProxy && in.Lambda != nil:
		// The Lambda event carries the stage's variables and the response conversion the binary media types.
		w.Variables, w.Binary = pr.StageVariables, pr.BinaryMediaTypes
		w.Lambda = &lambdaWire{Function: in.Lambda.FunctionARN, Timeout: in.Lambda.Timeout}
	case in.Type == HTTPProxy && in.HTTP != nil:
		h := in.HTTP
		w.HTTP = &httpWire{Method: h.Method, Path: h.Path, Query: h.Query, Placeholders: h.Placeholders,
			QueryMappings: h.QueryMappings, HeaderMappings: h.HeaderMappings}
	case in.Type == Mock && in.Mock != nil:
		w.Variables, w.Mock = pr.StageVariables, encodeMock(in.Mock)
	default:
		w.Type = in.Type
	}
	if a := pr.Route.Authorization; a != nil {
		w.Auth = &authWire{Type: a.Type, APIKey: a.APIKeyRequired, APIKeySource: a.APIKeySource, Cognito: a.Cognito}
	}
	if a := pr.Route.Authorization; a != nil && a.Lambda != nil {
		l := a.Lambda
		w.Authorizer = &authorizerWire{Name: l.Name, Type: l.Type, Function: l.FunctionARN, Region: l.Region,
			Sources: l.IdentitySources, Validate: l.ValidationExpression, TTL: l.TTL, APIKey: a.APIKeyRequired}
	}
	w.Gateway = pr.GatewayResponses
	if w.Variables == nil && gatewayTemplatesReadStageVariables(w.Gateway) {
		// A gateway-response template may read $stageVariables (HTTP_PROXY routes, the authorization service's
		// route data): sent only then, which keeps other route data small.
		w.Variables = pr.StageVariables
	}
	v, err := signedValue(routeFormat, &w, keys)
	if err != nil {
		return "", fmt.Errorf("API %s stage %s resource %s %s: encode processor route: %w", pr.APIID, pr.Stage, pr.Route.ResourcePath, pr.Route.Method, err)
	}
	if len(v) > MaxRouteMetadataBytes {
		varBytes := 0
		for k, val := range w.Variables {
			varBytes += len(k) + len(val)
		}
		if w.Mock != nil || w.Gateway != nil {
			return "", fmt.Errorf("API %s stage %s resource %s %s: the route data Envoy sends to the processor is %d bytes, Envoy accepts at most %d (stage variables take %d, the rest is the MOCK's templates and the stage's gateway responses): shorten the templates",
				pr.APIID, pr.Stage, pr.Route.ResourcePath, pr.Route.Method, len(v), MaxRouteMetadataBytes, varBytes)
		}
		return "", fmt.Errorf("API %s stage %s resource %s %s: the route data Envoy sends to the processor is %d bytes, Envoy accepts at most %d (stage variables take %d): shorten the stage's variables",
			pr.APIID, pr.Stage, pr.Route.ResourcePath, pr.Route.Method, len(v), MaxRouteMetadataBytes, varBytes)
	}
	return v, nil
}

// signedValue is "<format>.<key id>.<payload>.<mac>" for the compact JSON of w, signed with the first of keys
// (unsigned without keys). The format is under the MAC, so a value of one format never verifies as another.
func signedValue(format string, w any, keys RouteKeys) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return "", err
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	keyID := unsignedKeyID
	if len(keys) > 0 {
		keyID = keys[0].ID
	}
	v := make([]byte, 0, len(format)+len(keyID)+len(payload)+50)
	v = append(v, format...)
	v = append(v, '.')
	v = append(v, keyID...)
	v = append(v, '.')
	v = appendHeaderSafeJSON(v, payload)
	v = append(v, '.')
	if len(keys) > 0 {
		v = appendMAC(v, keys[0], v[:len(v)-1])
	}
	return string(v), nil
}

// sizingKey has a real key's id length: CheckProcessorRoute measures a signed value without a secret.
var sizingKey = RouteKeys{{ID: "00000000", secret: make([]byte, MinRouteKeyBytes)}}

// CheckProcessorRoute reports whether pr's route data fits what Envoy accepts, once signed by any key.
func CheckProcessorRoute(pr ProcessorRoute) error {
	_, err := EncodeProcessorRoute(pr, sizingKey)
	return err
}

// macBytes is the MAC's length: HMAC-SHA256 truncated to 128 bits, as HMAC-SHA-256-128 (RFC 4868 §2.6) — a
// forger's chance per try stays 2^-128, and every Lambda route carries 21 characters fewer.
const macBytes = 16

// appendMAC appends base64url(HMAC-SHA256(key, signed)[:macBytes]).
func appendMAC(dst []byte, key RouteKey, signed []byte) []byte {
	m := hmac.New(sha256.New, key.secret)
	m.Write(signed)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.AppendEncode(dst, m.Sum(sum[:0])[:macBytes])
}

// appendHeaderSafeJSON appends the JSON text js with every byte outside printable ASCII, and '%', written as a
// JSON \u escape. Such bytes occur only inside JSON strings (encoding/json escapes control characters itself), so
// the result is the same JSON value.
func appendHeaderSafeJSON(dst, js []byte) []byte {
	const hexDigits = "0123456789abcdef"
	esc := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	for i := 0; i < len(js); {
		c := js[i]
		switch {
		case c >= 0x80:
			r, n := utf8.DecodeRune(js[i:])
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				dst = esc(esc(dst, r1), r2)
			} else {
				dst = esc(dst, r)
			}
			i += n
			continue
		case c == '%' || c == 0x7f:
			dst = esc(dst, rune(c))
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

// RouteDataError is route metadata a processor refuses: missing, unsigned, signed with a key it does not hold,
// altered, or malformed. ClaimedRoute is the route name the unverified payload states, when it can be read, for
// the log only.
type RouteDataError struct {
	Reason       string
	ClaimedRoute string
}

func (e *RouteDataError) Error() string {
	if e.ClaimedRoute != "" {
		return e.Reason + " (claimed route " + e.ClaimedRoute + ")"
	}
	return e.Reason
}

// DecodeProcessorRoute verifies a RouteMetadataKey value against keys, then decodes it. Nothing of an unverified
// value is used except, in the error, the route name it claims.
func DecodeProcessorRoute(v string, keys RouteKeys) (*ProcessorRoute, error) {
	payload, err := verifiedPayload(v, RouteMetadataKey, routeFormat, "route data", keys, claimedRoute)
	if err != nil {
		return nil, err
	}
	var w routeWire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return nil, &RouteDataError{Reason: fmt.Sprintf("%s payload: %v", RouteMetadataKey, err)}
	}
	pr := &ProcessorRoute{APIID: w.APIID, Stage: w.Stage, DeploymentID: w.DeploymentID, StageVariables: w.Variables,
		BinaryMediaTypes: w.Binary, Route: Route{ResourceID: w.ResourceID, ResourcePath: w.ResourcePath, Method: w.Method,
			OperationName: w.Operation, Integration: Integration{Type: w.Type}}}
	switch {
	case w.Lambda != nil:
		pr.Route.Integration.Type = AWSProxy
		pr.Route.Integration.Lambda = &LambdaIntegration{FunctionARN: w.Lambda.Function, Timeout: w.Lambda.Timeout}
	case w.HTTP != nil:
		pr.Route.Integration.Type = HTTPProxy
		h := w.HTTP
		pr.Route.Integration.HTTP = &HTTPIntegration{Method: h.Method, Path: h.Path, Query: h.Query, Placeholders: h.Placeholders,
			QueryMappings: h.QueryMappings, HeaderMappings: h.HeaderMappings, Processor: true}
	case w.Mock != nil:
		pr.Route.Integration.Type = Mock
		pr.Route.Integration.Mock = w.Mock.decode()
	}
	if y := w.Auth; y != nil {
		pr.Route.Authorization = &Authorization{Type: y.Type, APIKeyRequired: y.APIKey, APIKeySource: y.APIKeySource, Cognito: y.Cognito}
	}
	if z := w.Authorizer; z != nil {
		if pr.Route.Authorization == nil {
			pr.Route.Authorization = &Authorization{Type: AuthCustom, APIKeyRequired: z.APIKey}
		}
		pr.Route.Authorization.Lambda = &LambdaAuthorizer{Name: z.Name, Type: z.Type, FunctionARN: z.Function, Region: z.Region,
			IdentitySources: z.Sources, ValidationExpression: z.Validate, TTL: z.TTL}
	}
	pr.GatewayResponses = w.Gateway
	if pr.Route.Segments, err = ParseResourcePath(pr.Route.ResourcePath); err != nil {
		return nil, fmt.Errorf("%s: %w", RouteMetadataKey, err)
	}
	pr.Route.Name = RouteName(pr.APIID, pr.Stage, pr.Route.ResourceID, pr.Route.Method)
	return pr, nil
}

// verifiedPayload checks that v (the value of metadata key, "what" in messages) has format and a MAC that
// verifies with one of keys, and returns its payload. claimed reads what an unverified payload states, for errors.
func verifiedPayload(v, key, format, what string, keys RouteKeys, claimed func(string) string) (string, error) {
	if len(v) > MaxRouteMetadataBytes {
		return "", &RouteDataError{Reason: fmt.Sprintf("%s value is %d bytes, over Envoy's limit of %d", key, len(v), MaxRouteMetadataBytes)}
	}
	rest, ok := strings.CutPrefix(v, format+".")
	if !ok {
		return "", &RouteDataError{Reason: fmt.Sprintf("%s value is not proxyplus %s (want format %s)", key, what, format)}
	}
	keyID, rest, ok1 := strings.Cut(rest, ".")
	dot := strings.LastIndexByte(rest, '.')
	if !ok1 || dot < 0 {
		return "", &RouteDataError{Reason: fmt.Sprintf("%s value is malformed", key)}
	}
	payload, mac := rest[:dot], rest[dot+1:]
	if keyID == unsignedKeyID {
		return "", &RouteDataError{Reason: what + " is unsigned (translated without a route key)", ClaimedRoute: claimed(payload)}
	}
	k, ok := keys.find(keyID)
	if !ok {
		return "", &RouteDataError{Reason: fmt.Sprintf("%s is signed with key %q, which this processor does not hold", what, keyID), ClaimedRoute: claimed(payload)}
	}
	signed := v[:len(v)-len(mac)-1]
	var want [64]byte
	if subtle.ConstantTimeCompare(appendMAC(want[:0], k, []byte(signed)), []byte(mac)) != 1 {
		return "", &RouteDataError{Reason: fmt.Sprintf("%s signature does not verify with key %q (forged or altered)", what, keyID), ClaimedRoute: claimed(payload)}
	}
	return payload, nil
}

// claimedRoute is the route name an unverified payload states, or "".
func claimedRoute(payload string) string {
	var w struct {
		APIID      string `json:"a"`
		Stage      string `json:"s"`
		ResourceID string `json:"r"`
		Method     string `json:"m"`
	}
	if json.Unmarshal([]byte(payload), &w) != nil || w.APIID == "" {
		return ""
	}
	return strconv.QuoteToASCII(RouteName(w.APIID, w.Stage, w.ResourceID, w.Method))
}

// ParseResourcePath splits a resource path ("/pets/{petId}", "/{proxy+}", "/") into segments. The loader has
// validated the character set (RES-2); this only classifies.
func ParseResourcePath(path string) ([]Segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("resource path %q must start with /", path)
	}
	if path == "/" {
		return nil, nil
	}
	parts := strings.Split(path[1:], "/")
	segs := make([]Segment, 0, len(parts))
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("resource path %q has an empty segment", path)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return nil, fmt.Errorf("resource path %q: greedy parameter %s must be the last segment", path, p)
			}
			segs = append(segs, Segment{Kind: Greedy, Text: p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			segs = append(segs, Segment{Kind: Param, Text: p[1 : len(p)-1]})
		default:
			segs = append(segs, Segment{Kind: Literal, Text: p})
		}
	}
	return segs, nil
}

// RouteName is a route's identity in Envoy, logs and the processor: "<apiId>/<stage>/<resourceId>/<METHOD>".
func RouteName(apiID, stage, resourceID, method string) string {
	return apiID + "/" + stage + "/" + resourceID + "/" + method
}
