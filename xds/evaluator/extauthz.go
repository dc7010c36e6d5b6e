package evaluator

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The ext_authz filter as proxyplus configures it (xds/builder/authz.go), modelled from Envoy
// source/extensions/filters/http/ext_authz/ext_authz.cc and source/extensions/filters/common/ext_authz/
// (main 1.37.0-dev, 321a098d81):
//   - Filter::decodeHeaders: the route's ExtAuthzPerRoute (getPerRouteFlags) either disables the check or gives
//     check_settings; the filter is disabled on the HCM and enabled per route, so other routes pay nothing. It runs
//     on direct_response routes too (initiateCall needs no route entry, unlike the ratelimit filter).
//   - CheckRequestUtils::createHttpCheck: attributes.request.http with method, path, host, scheme and the headers
//     (names lower-case, repeated values joined with ","), context_extensions from check_settings (merged route
//     over virtual host), metadata_context with the stream's dynamic metadata of metadata_context_namespaces.
//   - Filter::onComplete: OK → the response's dynamic_metadata is set under "envoy.filters.http.ext_authz"
//     (plus ext_authz_duration), and decoding continues; Denied → response flag UAEX and
//     sendLocalReply(status, body) whose headers are the denied response's (removed, then added), details
//     "ext_authz_denied"; a failed call → status_on_error (default 403) with details "ext_authz_error", unless
//     failure_mode_allow.
const (
	typeExtAuthz         = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
	typeExtAuthzPerRoute = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
	typeJWTAuthn         = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
	typeJWTPerRoute      = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
	// ExtAuthzNamespace is where the filter puts an OK answer's dynamic metadata.
	ExtAuthzNamespace = "envoy.filters.http.ext_authz"
)

// ExtAuthzCall is the ext_authz check the selected route makes.
type ExtAuthzCall struct {
	FilterName         string
	ContextExtensions  map[string]string
	MetadataNamespaces []string
	StatusOnError      int
}

func compileExtAuthz(ea *extauthzv3.ExtAuthz, l loc) error {
	if err := onlyFields(ea, l, "grpc_service", "transport_api_version", "failure_mode_allow", "status_on_error",
		"metadata_context_namespaces"); err != nil {
		return err
	}
	if ea.GetFailureModeAllow() {
		return l.at("failure_mode_allow").errf("only failure_mode_allow: false is modelled")
	}
	return nil
}

func (e *Evaluator) extAuthzFor(vh *vhost, r *route) *ExtAuthzCall {
	for _, f := range e.hcm.filters {
		if f.kind != filterExtAuthz || !filterEnabled(f, vh, r) {
			continue
		}
		per := r.pf.extAuthz
		if per == nil {
			per = vh.pf.extAuthz
		}
		if per.GetDisabled() {
			return nil
		}
		c := &ExtAuthzCall{FilterName: f.name, ContextExtensions: map[string]string{}, StatusOnError: 403,
			MetadataNamespaces: f.extAuthz.GetMetadataContextNamespaces()}
		if s := f.extAuthz.GetStatusOnError(); s != nil && s.GetCode() != 0 {
			c.StatusOnError = int(s.GetCode())
		}
		for _, lvl := range []*perFilter{vh.pf, r.pf} {
			for k, v := range lvl.extAuthz.GetCheckSettings().GetContextExtensions() {
				c.ContextExtensions[k] = v
			}
		}
		return c
	}
	return nil
}

func (e *Evaluator) jwtAuthnFor(vh *vhost, r *route) *JWTAuthnRequirement {
	for _, f := range e.hcm.filters {
		if f.kind != filterJWTAuthn || !filterEnabled(f, vh, r) || r.pf.jwtRequirement == "" {
			continue
		}
		return f.jwtRequirements[r.pf.jwtRequirement]
	}
	return nil
}

// ExtAuthzCheckRequest is the CheckRequest the filter sends for req on the selected route; meta is the stream's
// dynamic metadata so far (jwt_authn's).
func (e *Evaluator) ExtAuthzCheckRequest(sel *Selection, req *Request, meta map[string]*structpb.Struct) (*authv3.CheckRequest, error) {
	if sel == nil || sel.ExtAuthz == nil {
		return nil, fmt.Errorf("evaluator: the selected route does not enable ext_authz")
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	hs := map[string]string{}
	for _, h := range d.h.entries {
		if v, ok := hs[h.k]; ok {
			hs[h.k] = v + "," + h.v
			continue
		}
		hs[h.k] = h.v
	}
	path, _ := d.h.first(":path")
	method, _ := d.h.first(":method")
	host, _ := d.h.first(":authority")
	scheme, _ := d.h.first(":scheme")
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: host, Scheme: scheme, Headers: hs, Protocol: "HTTP/1.1",
		}},
		ContextExtensions: sel.ExtAuthz.ContextExtensions,
		MetadataContext:   &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}},
	}}
	for _, ns := range sel.ExtAuthz.MetadataNamespaces {
		if s := meta[ns]; s != nil {
			cr.Attributes.MetadataContext.FilterMetadata[ns] = s
		}
	}
	return cr, nil
}

// ExtAuthzOutcome is what the filter makes of a check answer: continue with dynamic metadata, or a reply.
type ExtAuthzOutcome struct {
	Metadata *structpb.Struct // set under ExtAuthzNamespace when the request continues
	Response *Response        // the local reply of a denied or failed check
}

// ExtAuthzResult applies a check answer (resp nil: the call failed) as Filter::onComplete does. meta is the
// stream's dynamic metadata, which the local-reply mappers see.
func (e *Evaluator) ExtAuthzResult(sel *Selection, req *Request, resp *authv3.CheckResponse, meta map[string]*structpb.Struct) (*ExtAuthzOutcome, error) {
	if sel == nil || sel.ExtAuthz == nil {
		return nil, fmt.Errorf("evaluator: the selected route does not enable ext_authz")
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	routeHeaders := sel.rt != nil && sel.rt.direct == nil
	if resp == nil {
		r, err := e.localReply(sel, d, sel.ExtAuthz.StatusOnError, "", "UAEX", "ext_authz_error", meta, routeHeaders)
		return &ExtAuthzOutcome{Response: r}, err
	}
	if resp.GetStatus().GetCode() == 0 {
		if ok := resp.GetOkResponse(); len(ok.GetHeaders()) > 0 || len(ok.GetHeadersToRemove()) > 0 || len(ok.GetResponseHeadersToAdd()) > 0 || len(ok.GetQueryParametersToSet()) > 0 {
			return nil, fmt.Errorf("evaluator: ext_authz OK answers that change headers or the query are not modelled")
		}
		md := resp.GetDynamicMetadata()
		if md == nil || len(md.GetFields()) == 0 {
			return &ExtAuthzOutcome{}, nil
		}
		out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, v := range md.GetFields() {
			out.Fields[k] = v
		}
		// ext_authz.cc onComplete adds the call's duration in milliseconds; the model's calls take none.
		out.Fields["ext_authz_duration"] = structpb.NewNumberValue(0)
		return &ExtAuthzOutcome{Metadata: out}, nil
	}
	den := resp.GetDeniedResponse()
	status := int(den.GetStatus().GetCode())
	if status == 0 {
		status = 403 // CheckResponse without a denied status: Code::Forbidden (grpc_client_impl.cc)
	}
	var set [][2]string
	for _, h := range den.GetHeaders() {
		set = append(set, [2]string{strings.ToLower(h.GetHeader().GetKey()), h.GetHeader().GetValue()})
	}
	r, err := e.localReplyModify(sel, d, status, den.GetBody(), "UAEX", "ext_authz_denied", meta, routeHeaders, false, func(h *headerMap) {
		for _, kv := range set {
			h.remove(kv[0])
		}
		for _, kv := range set {
			h.add(kv[0], kv[1])
		}
	})
	return &ExtAuthzOutcome{Response: r}, err
}

// JWTAuthnReply is jwt_authn's local reply for a failed verification, with the stream's dynamic metadata.
func (e *Evaluator) JWTAuthnReply(sel *Selection, req *Request, o *JWTOutcome) (*Response, error) {
	return e.LocalReplyWithMetadata(sel, req, o.Status, o.Body, "", o.Details, map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": o.Metadata})
}
