package extproc

import (
	"sort"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// extAuthzNamespace is where Envoy's ext_authz filter puts the authorization service's OK metadata
// (ext_authz.cc Filter::onComplete, main 1.37.0-dev, 321a098d81).
const extAuthzNamespace = "envoy.filters.http.ext_authz"

// AuthFromMetadata reads what Envoy's authorization filters established from the metadata_context the ext_proc
// filter forwards (metadata_options.forwarding_namespaces; ext_proc.cc Filter::addDynamicMetadata): jwt_authn's
// verified claims (payload_in_metadata) and the authorization service's API key. Only Envoy writes these
// namespaces — no request header reaches them — so they are trusted like the route data. nil when neither is there.
func AuthFromMetadata(md *corev3.Metadata) *lambdaproxy.Auth {
	fm := md.GetFilterMetadata()
	if len(fm) == 0 {
		return nil
	}
	var a *lambdaproxy.Auth
	if claims := fm[authz.JWTAuthnNamespace].GetFields()[authz.ClaimsKey].GetStructValue(); claims != nil {
		a = &lambdaproxy.Auth{Claims: []lambdaproxy.Claim{}}
		names := make([]string, 0, len(claims.GetFields()))
		for k := range claims.GetFields() {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			a.Claims = append(a.Claims, lambdaproxy.Claim{Name: k, Value: claimString(claims.GetFields()[k])})
		}
	}
	if f := fm[extAuthzNamespace].GetFields(); f[authz.MetadataAPIKey].GetStringValue() != "" {
		if a == nil {
			a = &lambdaproxy.Auth{}
		}
		a.APIKey, a.APIKeyID = f[authz.MetadataAPIKey].GetStringValue(), f[authz.MetadataAPIKeyID].GetStringValue()
	}
	return a
}

// claimString renders a claim value as a string: strings as they are, numbers without a fraction as integers
// (jwt_authn hands JSON numbers over as doubles), booleans as true/false, anything else as JSON.
func claimString(v *structpb.Value) string {
	switch x := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return x.StringValue
	case *structpb.Value_NumberValue:
		if f := x.NumberValue; f == float64(int64(f)) {
			return strconv.FormatInt(int64(f), 10)
		}
		return strconv.FormatFloat(x.NumberValue, 'f', -1, 64)
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return ""
	}
	return string(b)
}
