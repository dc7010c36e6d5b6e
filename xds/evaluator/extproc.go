package evaluator

import (
	"fmt"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	typeFilterConfig           = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
	typeExtProcPerRoute        = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute"
	typeHeaderMutationPerRoute = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute"
)

// ExtProcOverride describes the ext_proc filter's behaviour on the selected route.
type ExtProcOverride struct {
	FilterName string // the HCM http_filters name of the ext_proc filter
	// GRPCInitialMetadata is ExtProcOverrides.grpc_initial_metadata (EXT-14).
	GRPCInitialMetadata [][2]string
	// ProcessingMode is the effective mode: the route's overrides.processing_mode when
	// set, else the filter's processing_mode. A nil or DEFAULT header mode means SEND for
	// request/response headers; body modes default to NONE.
	ProcessingMode *extprocfilterv3.ProcessingMode
	// FailureModeAllow is the route override, nil when the filter-level value applies.
	FailureModeAllow *bool
	// GRPCService is the route's overrides.grpc_service, if any.
	GRPCService *corev3.GrpcService
}

// perFilter is one level's typed_per_filter_config, resolved against the HCM's filters.
type perFilter struct {
	explicit map[string]bool // filter name -> disabled flag, for every configured name
	extProc  *extprocfilterv3.ExtProcPerRoute
	hmReq    mutationList
	hmResp   mutationList
	hasHM    bool // a HeaderMutationPerRoute is configured at this level
	// buffer is this level's BufferPerRoute.buffer (nil: none, or BufferPerRoute.disabled, recorded in explicit).
	buffer *bufferv3.Buffer
	// extAuthz is this level's ExtAuthzPerRoute; jwtRequirement the jwt_authn PerRouteConfig.requirement_name.
	extAuthz       *extauthzv3.ExtAuthzPerRoute
	jwtRequirement string
}

// compilePerFilter resolves typed_per_filter_config. Keys are HCM http_filters names
// (route.proto: "The key should match the filter config name"). An entry either is a
// config.route.v3.FilterConfig wrapper (disabled / config / is_optional) or the filter's
// per-route message directly. Router::PerFilterConfigs records disabled=FilterConfig.disabled
// (false for an unwrapped config): any entry explicitly enables a filter that the HCM
// marks disabled, FilterConfig{disabled: true} disables it (EXT-15).
func compilePerFilter(m map[string]*anypb.Any, l loc, h *hcmConfig, routeLevel bool) (*perFilter, error) {
	pf := &perFilter{explicit: map[string]bool{}}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		el := l.at(fmt.Sprintf("[%q]", name))
		f := h.filterByName(name)
		if f == nil || f.kind == filterRouter {
			return nil, el.errf("no ext_proc, buffer or header_mutation HTTP filter named %q in the HCM; per-filter config for it is not modelled", name)
		}
		a := m[name]
		disabled := false
		inner := a
		if a.GetTypeUrl() == typeFilterConfig {
			fc := &routev3.FilterConfig{}
			if err := a.UnmarshalTo(fc); err != nil {
				return nil, el.errf("%v", err)
			}
			if err := onlyFields(fc, el, "config", "disabled", "is_optional"); err != nil {
				return nil, err
			}
			disabled, inner = fc.GetDisabled(), fc.GetConfig()
			// Envoy source/common/router/per_filter_config.cc PerFilterConfigs::PerFilterConfigs
			// (main 1.37.0-dev, 321a098d81): a FilterConfig that is not disabled must carry
			// `config` - "Empty route/virtual host per filter configuration for <name> filter"
			// fails the whole RouteConfiguration (a NACK). A `config` Any with an empty type_url
			// enables the filter without a per-route config.
			switch {
			case disabled:
				inner = nil
			case inner == nil:
				return nil, el.errf("Envoy rejects this configuration: Empty route/virtual host per filter configuration for %s filter", name)
			case inner.GetTypeUrl() == "":
				inner = nil
			}
		}
		pf.explicit[name] = disabled
		if inner == nil {
			continue
		}
		switch f.kind {
		case filterExtProc:
			if inner.GetTypeUrl() != typeExtProcPerRoute {
				return nil, el.errf("per-filter config type %s for ext_proc filter %q", inner.GetTypeUrl(), name)
			}
			ep := &extprocfilterv3.ExtProcPerRoute{}
			if err := unmarshalValidate(inner, ep); err != nil {
				return nil, el.errf("%v", err)
			}
			if ov := ep.GetOverrides(); ov != nil {
				// Virtual-host and route overrides are merged as Envoy merges them (extProcFor). Per-route request_attributes/response_attributes are not implemented by
				// Envoy (EXT-14); the others change processing the evaluator cannot see.
				if err := onlyFields(ov, el.at("overrides"), "processing_mode", "grpc_initial_metadata", "failure_mode_allow", "grpc_service"); err != nil {
					return nil, err
				}
			}
			pf.extProc = ep
		case filterHeaderMutation:
			if inner.GetTypeUrl() != typeHeaderMutationPerRoute {
				return nil, el.errf("per-filter config type %s for header_mutation filter %q", inner.GetTypeUrl(), name)
			}
			hm := &headermutationv3.HeaderMutationPerRoute{}
			if err := unmarshalValidate(inner, hm); err != nil {
				return nil, el.errf("%v", err)
			}
			req, resp, err := compileHMMutations(hm.GetMutations(), el.at("mutations"))
			if err != nil {
				return nil, err
			}
			pf.hmReq, pf.hmResp, pf.hasHM = req, resp, true
		case filterJWTAuthn:
			if inner.GetTypeUrl() != typeJWTPerRoute || !routeLevel {
				return nil, el.errf("per-filter config type %s for jwt_authn filter %q (only route-level PerRouteConfig is modelled)", inner.GetTypeUrl(), name)
			}
			jp := &jwtauthnv3.PerRouteConfig{}
			if err := unmarshalValidate(inner, jp); err != nil {
				return nil, el.errf("%v", err)
			}
			rn := jp.GetRequirementName()
			if _, ok := f.jwtRequirements[rn]; !ok || rn == "" {
				// FilterConfigImpl::findPerRouteVerifier answers such routes 403; proxyplus never generates one.
				return nil, el.errf("requirement_name %q is not in the filter's requirement_map (Envoy answers 403 \"Failed JWT authentication\")", rn)
			}
			pf.jwtRequirement = rn
		case filterExtAuthz:
			if inner.GetTypeUrl() != typeExtAuthzPerRoute {
				return nil, el.errf("per-filter config type %s for ext_authz filter %q", inner.GetTypeUrl(), name)
			}
			ea := &extauthzv3.ExtAuthzPerRoute{}
			if err := unmarshalValidate(inner, ea); err != nil {
				return nil, el.errf("%v", err)
			}
			if cs := ea.GetCheckSettings(); cs != nil {
				if err := onlyFields(cs, el.at("check_settings"), "context_extensions"); err != nil {
					return nil, err
				}
			}
			pf.extAuthz = ea
		case filterBuffer:
			const typeBufferPerRoute = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
			if inner.GetTypeUrl() != typeBufferPerRoute {
				return nil, el.errf("per-filter config type %s for buffer filter %q", inner.GetTypeUrl(), name)
			}
			bp := &bufferv3.BufferPerRoute{}
			if err := unmarshalValidate(inner, bp); err != nil {
				return nil, el.errf("%v", err)
			}
			// BufferPerRoute.disabled turns the filter off at this level (buffer_filter.cc, BufferFilterSettings).
			if bp.GetDisabled() {
				pf.explicit[name] = true
				continue
			}
			pf.buffer = bp.GetBuffer()
		}
	}
	return pf, nil
}

func unmarshalValidate(a *anypb.Any, m interface {
	proto.Message
	ValidateAll() error
}) error {
	if err := a.UnmarshalTo(m); err != nil {
		return err
	}
	if err := m.ValidateAll(); err != nil {
		return fmt.Errorf("Envoy rejects this configuration: %w", err)
	}
	return nil
}

// filterEnabled is the filter chain's decision (RouteEntryImplBase::filterDisabled: the
// route's explicit flag, else the virtual host's, else the route configuration's - which
// the evaluator does not accept - else the HCM's HttpFilter.disabled).
func filterEnabled(f *httpFilter, vh *vhost, r *route) bool {
	if r != nil {
		if d, ok := r.pf.explicit[f.name]; ok {
			return !d
		}
	}
	if vh != nil {
		if d, ok := vh.pf.explicit[f.name]; ok {
			return !d
		}
	}
	return !f.disabled
}

// extProcPerRouteMerged is the ext_proc filter's FilterConfigPerRoute after merging the levels.
type extProcPerRouteMerged struct {
	disabled    bool
	mode        *extprocfilterv3.ProcessingMode // nil: the filter's
	metadata    []*corev3.HeaderValue
	failureMode *bool
	grpcService *corev3.GrpcService
}

// mergeExtProcPerRoute merges ExtProcPerRoute configs ordered from the least specific level to the most specific,
// as Envoy's ext_proc filter does (Envoy source/extensions/filters/http/ext_proc/ext_proc.cc, main 1.37.0-dev,
// 321a098d81): Filter::mergePerRouteConfig folds Http::Utility::getAllPerFilterConfig (source/common/http/
// utility.h) — which lists RouteEntryImplBase::perFilterConfigs (source/common/router/config_impl.cc): the
// route configuration's, the virtual host's (CommonVirtualHostImpl::perFilterConfigs, "Parent first"), then the
// route's — with FilterConfigPerRoute(less_specific, more_specific): disabled is the more specific level's;
// processing_mode (initProcessingMode: none on a disabled level) is the more specific one's when set, and none at
// all when the more specific level is disabled (mergeProcessingMode); grpc_service and failure_mode_allow the more
// specific one's when set; grpc_initial_metadata keeps the less specific entries, the more specific level replacing
// those of its keys and appending the others (mergeGrpcInitialMetadata → mergeHeaderValues), since Envoy 1.30.
func mergeExtProcPerRoute(levels ...*extprocfilterv3.ExtProcPerRoute) *extProcPerRouteMerged {
	var m *extProcPerRouteMerged
	for _, per := range levels {
		if per == nil {
			continue
		}
		ov := per.GetOverrides()
		cur := &extProcPerRouteMerged{disabled: per.GetDisabled(), metadata: ov.GetGrpcInitialMetadata(), grpcService: ov.GetGrpcService()}
		if !cur.disabled {
			cur.mode = ov.GetProcessingMode()
		}
		if ov.GetFailureModeAllow() != nil {
			b := ov.GetFailureModeAllow().GetValue()
			cur.failureMode = &b
		}
		if m == nil {
			m = cur
			continue
		}
		next := &extProcPerRouteMerged{disabled: cur.disabled, mode: cur.mode, grpcService: cur.grpcService, failureMode: cur.failureMode}
		if !cur.disabled && cur.mode == nil {
			next.mode = m.mode
		}
		if next.grpcService == nil {
			next.grpcService = m.grpcService
		}
		if next.failureMode == nil {
			next.failureMode = m.failureMode
		}
		next.metadata = append([]*corev3.HeaderValue(nil), m.metadata...)
		for _, hv := range cur.metadata {
			replaced := false
			for i, dest := range next.metadata {
				if dest.GetKey() == hv.GetKey() {
					next.metadata[i], replaced = hv, true
				}
			}
			if !replaced {
				next.metadata = append(next.metadata, hv)
			}
		}
		m = next
	}
	return m
}

func (e *Evaluator) extProcFor(vh *vhost, r *route) *ExtProcOverride {
	f := e.hcm.extProc
	if f == nil || !filterEnabled(f, vh, r) {
		return nil
	}
	// The virtual host's and the route's ExtProcPerRoute, merged (the evaluator accepts no route-configuration
	// level).
	o := &ExtProcOverride{FilterName: f.name}
	mode := f.extProc.GetProcessingMode()
	if per := mergeExtProcPerRoute(vh.pf.extProc, r.pf.extProc); per != nil {
		if per.disabled {
			return nil
		}
		if per.mode != nil {
			mode = per.mode
		}
		for _, hv := range per.metadata {
			v := hv.GetValue()
			if v == "" && len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			o.GRPCInitialMetadata = append(o.GRPCInitialMetadata, [2]string{hv.GetKey(), v})
		}
		o.FailureModeAllow = per.failureMode
		o.GRPCService = per.grpcService
	}
	if mode != nil {
		o.ProcessingMode = proto.Clone(mode).(*extprocfilterv3.ProcessingMode)
	} else {
		o.ProcessingMode = &extprocfilterv3.ProcessingMode{}
	}
	return o
}

// ApplyExtProcHeaderMutation applies an ext_proc CommonResponse.header_mutation to req as
// Envoy's ext_proc filter does in the request-headers phase
// (MutationUtils::applyHeaderMutations in
// source/extensions/filters/http/ext_proc/mutation_utils.cc), so that a following Forward
// shows the upstream request after the processor. Call it after Select: Envoy does not
// re-route unless the processor sets clear_route_cache (EXT-13), so keep using the
// original Selection.
//
// Mutation rules are the HCM ext_proc filter's mutation_rules with allow_all_routing
// replaced by allowAllRouting (RTM-12 sets it on processor-rewritten routes):
//   - remove_headers first: ":"-prefixed headers and host are never removed ("Attempts to
//     remove system headers ... will be ignored"); other names follow the rules;
//   - set_headers: setting both value and raw_value fails the request (500, EXT-4); with
//     the default runtime send_header_raw_value only raw_value is read, so a value-only
//     entry sets an empty value; append (BoolValue) absent/false overwrites, true appends;
//     a non-default append_action is not modelled (error);
//   - host, :authority, :method, :scheme need allow_all_routing; x-envoy-* need
//     allow_envoy; allow/disallow expressions, disallow_all and disallow_system apply
//     (Checker::isAllowed); a refused mutation is ignored, or fails the request with
//     disallow_is_error;
//   - invalid header names/values fail the request.
//
// An *ExtProcError means Envoy fails the request with a local reply (handleErrorResponse);
// other errors are answers the evaluator does not model.
func (e *Evaluator) ApplyExtProcHeaderMutation(req *Request, hm *extprocv3.HeaderMutation, allowAllRouting bool) error {
	d, err := e.decode(req)
	if err != nil {
		return err
	}
	rules := mutationChecker{}
	if e.hcm.extProc != nil {
		rules = *e.hcm.extProc.rules
	}
	rules.allowAllRouting = allowAllRouting
	h := d.h
	fail := func(details, format string, a ...any) error {
		return &ExtProcError{Status: e.extProcStatusOnError(), Details: details, Reason: fmt.Sprintf(format, a...)}
	}
	modelled := func(sh *corev3.HeaderValueOption) error {
		if sh.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
			return fmt.Errorf("evaluator: ext_proc set_headers append_action %v is not modelled", sh.GetAppendAction())
		}
		if sh.GetHeader().GetValue() != "" && len(sh.GetHeader().GetRawValue()) > 0 {
			return fmt.Errorf("evaluator: ext_proc: only one of value or raw_value in the HeaderValue message should be set")
		}
		return nil
	}
	if f, err := applyHeaderMutation(h, hm, &rules, e.hcm.maxHeadersCount, modelled); err != nil {
		return err
	} else if f != nil {
		return fail(f.details, "%s", f.reason)
	}
	if h.byteSize() > e.hcm.maxHeadersKB*1024 || len(h.entries) > e.hcm.maxHeadersCount {
		return fail("header_mutation_result_exceeds_limit", "header mutation exceeds the HCM header limits")
	}
	req.decoded = d
	return nil
}

// mutationFailure is a header mutation MutationUtils::applyHeaderMutations refuses: the
// stream's details and the log reason.
type mutationFailure struct{ details, reason string }

// applyHeaderMutation is MutationUtils::applyHeaderMutations (Envoy source/extensions/filters/
// http/ext_proc/mutation_utils.cc, main 1.37.0-dev, 321a098d81) on h: remove_headers, then
// set_headers, stopping at the first failure, which it returns. check, if set, runs first on
// every set_headers entry; its error (something not modelled) stops it too.
func applyHeaderMutation(h *headerMap, hm *extprocv3.HeaderMutation, rules *mutationChecker, maxHeadersCount int, check func(*corev3.HeaderValueOption) error) (*mutationFailure, error) {
	// responseHeaderSizeCheck: more removals or sets than max_headers_count fail it all.
	if len(hm.GetRemoveHeaders()) > maxHeadersCount || len(hm.GetSetHeaders()) > maxHeadersCount {
		return &mutationFailure{"header_mutation_operation_count_exceeds_limit", "ext_proc header mutation exceeds the header count limit"}, nil
	}
	for _, r := range hm.GetRemoveHeaders() {
		if !headerNameIsValid(r) {
			return &mutationFailure{"header_mutation_remove_contains_invalid_character", fmt.Sprintf("invalid character in remove_headers mutation %q", r)}, nil
		}
		name := asciiLower(r)
		// Checker::isAllowed(REMOVE): never host or ":" headers.
		if strings.HasPrefix(name, ":") || name == "host" || !rules.allowed(name) {
			if rules.disallowIsError {
				return &mutationFailure{"header_mutation_remove_headers_failed", fmt.Sprintf("invalid attempt to remove %s", name)}, nil
			}
			continue
		}
		h.remove(name)
	}
	for _, sh := range hm.GetSetHeaders() {
		if sh.GetHeader() == nil {
			continue
		}
		if check != nil {
			if err := check(sh); err != nil {
				return nil, err
			}
		}
		// With the default runtime send_header_raw_value only raw_value is read.
		key, value := sh.GetHeader().GetKey(), string(sh.GetHeader().GetRawValue())
		if !headerNameIsValid(key) || !headerValueIsValid(value) {
			return &mutationFailure{"header_mutation_set_contains_invalid_character", fmt.Sprintf("invalid character in set_headers mutation %q: %q", key, value)}, nil
		}
		name := asciiLower(key)
		// Checker::isAllowed (mutation_rules.cc): a ":" header cannot be appended to (the
		// operation is APPEND when append is set and the header exists).
		appendOp := sh.GetAppend().GetValue() && h.has(name)
		if !rules.allowed(name) || appendOp && strings.HasPrefix(name, ":") || !rules.validValue(name, value) {
			if rules.disallowIsError {
				return &mutationFailure{"header_mutation_set_headers_failed", fmt.Sprintf("invalid attempt to modify %s", name)}, nil
			}
			continue
		}
		// Only `append` is read (append_action is not): true adds a line (addCopy), false
		// replaces every line (setCopy).
		if sh.GetAppend().GetValue() {
			h.add(name, value)
		} else {
			h.set(name, value)
		}
	}
	return nil, nil
}

// allowed is Checker::isAllowed.
func (c *mutationChecker) allowed(name string) bool {
	if c.disallowRe != nil && c.disallowRe.MatchString(name) {
		return false
	}
	if c.allowRe != nil && c.allowRe.MatchString(name) {
		return true
	}
	if c.disallowAll {
		return false
	}
	switch name {
	case "host", ":authority", ":method", ":scheme":
		if !c.allowAllRouting {
			return false
		}
	}
	if c.disallowSystem && strings.HasPrefix(name, ":") {
		return false
	}
	if !c.allowEnvoy && strings.HasPrefix(name, "x-envoy") {
		return false
	}
	return true
}

// validValue rejects values Envoy cannot accept for routing pseudo-headers.
func (c *mutationChecker) validValue(name, value string) bool {
	switch name {
	case ":scheme":
		return value == "http" || value == "https"
	case ":authority", "host", ":method", ":path":
		return value != ""
	case ":status":
		n, err := strconv.Atoi(value)
		return err == nil && n >= 200
	}
	return true
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// headerNameIsValid is HeaderUtility::headerNameIsValid (tchar; pseudo-headers are ':'
// followed by lower-case tchar).
func headerNameIsValid(n string) bool {
	if n == "" {
		return false
	}
	s := n
	if n[0] == ':' {
		s = n[1:]
		if asciiLower(s) != s {
			return false
		}
	}
	return isToken(s)
}

// headerValueIsValid is HeaderUtility::headerValueIsValid (Envoy
// source/common/http/header_utility.cc, main 1.37.0-dev, 321a098d81):
// http2::adapter::HeaderValidator::IsValidHeaderValue with ObsTextOption::kAllow - tab,
// space, the visible ASCII characters and obs-text (0x80-0xFF) are valid; every other
// control character (NUL, CR, LF, ...) and DEL are not.
func headerValueIsValid(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ExtProcError is the ext_proc filter failing the request after a processor answer it
// cannot apply (an invalid or refused header mutation): Envoy source/extensions/filters/
// http/ext_proc/ext_proc.cc Filter::onReceiveMessage -> Filter::handleErrorResponse (main
// 1.37.0-dev, 321a098d81) sends an immediate response with the filter's status_on_error
// (500 unless a 4xx/5xx is configured), no body and the mutation error as
// %RESPONSE_CODE_DETAILS% (mutation_utils.cc messages, e.g.
// "header_mutation_set_contains_invalid_character"). Feed Status and Details to
// LocalReply on the same selection to get the client's response.
type ExtProcError struct {
	Status  int
	Details string
	Reason  string
}

func (e *ExtProcError) Error() string {
	return fmt.Sprintf("evaluator: ext_proc fails the request with %d (%s): %s", e.Status, e.Details, e.Reason)
}

// extProcStatusOnError is FilterConfig's status_on_error (ext_proc.h toErrorCode: only
// 4xx and 5xx codes are used, anything else is 500).
func (e *Evaluator) extProcStatusOnError() int {
	if e.hcm.extProc == nil {
		return 500
	}
	c := int(e.hcm.extProc.extProc.GetStatusOnError().GetCode())
	if c >= 400 && c <= 599 {
		return c
	}
	return 500
}

// ProcessorRequest is what the ext_proc filter sends in its request_headers message (and, in BUFFERED mode, its
// request_body message): the request after Envoy's codec and the HCM processed it (x-forwarded-*, hop-by-hop
// removal, …) and before the router. Headers hold every entry, pseudo-headers first, names lower-case (EXT-2).
type ProcessorRequest struct {
	Headers [][2]string
	Body    []byte
	// TrustedAddress is the client address Envoy trusts (use_remote_address / xff_num_trusted_hops), "ip[:port]".
	TrustedAddress string
}

// ProcessorView returns what the ext_proc filter of the selected route sends to the processor. The ext_proc
// filter is the first HTTP filter proxyplus configures, so no other decoder filter has run yet.
func (e *Evaluator) ProcessorView(sel *Selection, req *Request) (*ProcessorRequest, error) {
	if sel == nil || sel.ExtProc == nil {
		return nil, fmt.Errorf("evaluator: the selected route does not enable ext_proc")
	}
	for _, f := range e.hcm.filters {
		if f.kind == filterExtProc {
			break
		}
		// jwt_authn (forward: true, no header forwarding; compileJWTAuthn) and ext_authz (OK answers without
		// header changes; ExtAuthzResult) leave the request headers as they are.
		if f.kind == filterJWTAuthn || f.kind == filterExtAuthz {
			continue
		}
		if filterEnabled(f, sel.vh, sel.rt) {
			return nil, fmt.Errorf("evaluator: filter %q runs before ext_proc; its effect on the processor's view is not modelled", f.name)
		}
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	out := &ProcessorRequest{Body: d.body, TrustedAddress: d.trustedAddr}
	for _, h := range d.h.entries {
		out.Headers = append(out.Headers, [2]string{h.k, h.v})
	}
	return out, nil
}

// ExtProcMessage is one message the ext_proc filter sends on the selected route, in order.
type ExtProcMessage struct {
	Request *extprocv3.ProcessingRequest
	// AwaitsAnswer is set when Envoy sends nothing more until the processor has answered this message; in
	// FULL_DUPLEX_STREAMED mode only the message carrying end_of_stream (or the trailers) awaits one.
	AwaitsAnswer bool
}

// ExtProcExchange is the message sequence the ext_proc filter of the selected route plays for req, as Envoy
// (main 1.37.0-dev, 321a098d81) plays it for an HTTP/1.1 client (the codec the evaluator models):
//
//   - request_headers first, end_of_stream only without a body (ext_proc.cc Filter::onHeaders), carrying
//     protocol_config with the effective body modes (Filter::encodeProtocolConfig: the first message of a stream);
//     content-length is still among the headers: Filter::decodeHeaders removes it in FULL_DUPLEX_STREAMED mode
//     (ProcessorState::shouldRemoveContentLength) only after onHeaders copied the headers into the message;
//   - the HTTP/1 codec hands the body to the filters as it reads it, every piece with end_stream false, and ends
//     it with an empty end_stream chunk (http1/codec_impl.cc ServerConnectionImpl::onBody, onMessageCompleteBase);
//     chunkSize splits the body like socket reads (0: one piece);
//   - BUFFERED: Envoy waits for the headers answer, buffers, then sends the whole body in one request_body with
//     end_of_stream (Filter::onData holds data during HeadersCallback; handleDataBufferedMode);
//   - FULL_DUPLEX_STREAMED: Envoy sends each piece as it comes, without waiting for the headers answer
//     (Filter::onData, handleDataStreamedModeBase drains it after copying it into the message), so a processor
//     that answers once after end_of_stream costs one round trip (envoy-notes EXT-6a);
//   - NONE: the headers message only.
//
// Request trailers are not modelled (the evaluator's requests have none); with request_trailer_mode SEND they
// would end a FULL_DUPLEX_STREAMED body instead of the empty chunk. STREAMED and BUFFERED_PARTIAL are refused.
func (e *Evaluator) ExtProcExchange(sel *Selection, req *Request, chunkSize int) ([]ExtProcMessage, error) {
	return e.ExtProcExchangeWithMetadata(sel, req, chunkSize, nil)
}

// ExtProcExchangeWithMetadata is ExtProcExchange on a stream whose earlier filters set dynamic metadata (jwt_authn,
// ext_authz): the headers message carries metadata_context with the namespaces of the filter's
// metadata_options.forwarding_namespaces.untyped that meta has (ext_proc.cc Filter::buildHeaderRequest →
// addDynamicMetadata, which copies request dynamic metadata per listed namespace).
func (e *Evaluator) ExtProcExchangeWithMetadata(sel *Selection, req *Request, chunkSize int, meta map[string]*structpb.Struct) ([]ExtProcMessage, error) {
	view, err := e.ProcessorView(sel, req)
	if err != nil {
		return nil, err
	}
	mode := sel.ExtProc.ProcessingMode
	switch mode.GetRequestHeaderMode() {
	case extprocfilterv3.ProcessingMode_DEFAULT, extprocfilterv3.ProcessingMode_SEND:
	default:
		return nil, fmt.Errorf("evaluator: request_header_mode %v is not modelled", mode.GetRequestHeaderMode())
	}
	body := mode.GetRequestBodyMode()
	hm := &corev3.HeaderMap{}
	for _, h := range view.Headers {
		// MutationUtils::headersToProto: raw_value only (runtime send_header_raw_value, EXT-4).
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: h[0], RawValue: []byte(h[1])})
	}
	noBody := len(view.Body) == 0
	first := &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: hm, EndOfStream: noBody}},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  body,
			ResponseBodyMode: mode.GetResponseBodyMode(),
		},
	}
	if fwd := e.ExtProcForwardedMetadata(meta); fwd != nil {
		first.MetadataContext = fwd
	}
	bodyMsg := func(b []byte, eos bool) *extprocv3.ProcessingRequest {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: b, EndOfStream: eos}}}
	}
	switch body {
	case extprocfilterv3.ProcessingMode_NONE:
		return []ExtProcMessage{{Request: first, AwaitsAnswer: true}}, nil
	case extprocfilterv3.ProcessingMode_BUFFERED:
		out := []ExtProcMessage{{Request: first, AwaitsAnswer: true}}
		if !noBody {
			out = append(out, ExtProcMessage{Request: bodyMsg(view.Body, true), AwaitsAnswer: true})
		}
		return out, nil
	case extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		out := []ExtProcMessage{{Request: first, AwaitsAnswer: noBody}}
		if noBody {
			return out, nil
		}
		if chunkSize <= 0 {
			chunkSize = len(view.Body)
		}
		for b := view.Body; len(b) > 0; {
			n := min(chunkSize, len(b))
			out = append(out, ExtProcMessage{Request: bodyMsg(b[:n], false)})
			b = b[n:]
		}
		return append(out, ExtProcMessage{Request: bodyMsg(nil, true), AwaitsAnswer: true}), nil
	}
	return nil, fmt.Errorf("evaluator: request_body_mode %v is not modelled", body)
}

// ExtProcDynamicMetadata is the part of a processor answer's dynamic_metadata Envoy keeps in the stream's dynamic
// metadata, where the HCM's local-reply mappers read it: only the namespaces listed in the filter's
// metadata_options.receiving_namespaces.untyped; the rest is dropped (ext_proc.cc Filter::setDynamicMetadata,
// main 1.37.0-dev 321a098d81; the processor's own 500/502/504/413 depend on it, HCM-12). Routes cannot override
// metadata_options here (compilePerFilter refuses it), so the filter's list applies.
func (e *Evaluator) ExtProcDynamicMetadata(sel *Selection, md *structpb.Struct) map[string]*structpb.Struct {
	if sel == nil || sel.ExtProc == nil || e.hcm.extProc == nil || md == nil {
		return nil
	}
	var out map[string]*structpb.Struct
	for _, ns := range e.hcm.extProc.extProc.GetMetadataOptions().GetReceivingNamespaces().GetUntyped() {
		v, ok := md.GetFields()[ns]
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]*structpb.Struct{}
		}
		// setDynamicMetadata stores the value's struct_value (an empty struct for another kind).
		out[ns] = v.GetStructValue()
		if out[ns] == nil {
			out[ns] = &structpb.Struct{}
		}
	}
	return out
}

// verifyProcessingMode is the filter-level check Envoy makes when it loads the ext_proc filter (config.cc
// verifyProcessingModeConfig, main 1.37.0-dev 321a098d81): FULL_DUPLEX_STREAMED bodies need trailer mode SEND.
// Per-route overrides are not checked by Envoy (createRouteSpecificFilterConfigTyped).
func verifyProcessingMode(m *extprocfilterv3.ProcessingMode) error {
	if m.GetRequestBodyMode() == extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED && m.GetRequestTrailerMode() != extprocfilterv3.ProcessingMode_SEND {
		return fmt.Errorf("If the ext_proc filter has the request_body_mode set to FULL_DUPLEX_STREAMED, then the request_trailer_mode has to be set to SEND")
	}
	if m.GetResponseBodyMode() == extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED && m.GetResponseTrailerMode() != extprocfilterv3.ProcessingMode_SEND {
		return fmt.Errorf("If the ext_proc filter has the response_body_mode set to FULL_DUPLEX_STREAMED, then the response_trailer_mode has to be set to SEND")
	}
	return nil
}

// ExtProcForwardedMetadata is the metadata_context the ext_proc filter sends: the namespaces of
// metadata_options.forwarding_namespaces.untyped present in the stream's dynamic metadata (nil when none).
func (e *Evaluator) ExtProcForwardedMetadata(meta map[string]*structpb.Struct) *corev3.Metadata {
	if e.hcm.extProc == nil || len(meta) == 0 {
		return nil
	}
	var out *corev3.Metadata
	for _, ns := range e.hcm.extProc.extProc.GetMetadataOptions().GetForwardingNamespaces().GetUntyped() {
		if s := meta[ns]; s != nil {
			if out == nil {
				out = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
			}
			out.FilterMetadata[ns] = s
		}
	}
	return out
}
