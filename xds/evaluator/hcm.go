package evaluator

import (
	"fmt"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"net"
	"regexp"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	typeExtProc        = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
	typeHeaderMutation = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
	typeRouter         = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	typeBuffer         = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
)

type filterKind int

const (
	filterExtProc filterKind = iota
	filterHeaderMutation
	filterRouter
	filterBuffer
	filterJWTAuthn // jwtauthn.go
	filterExtAuthz // extauthz.go
)

type httpFilter struct {
	name     string
	kind     filterKind
	disabled bool // HttpFilter.disabled: off unless a route's per-filter config enables it

	extProc *extprocfilterv3.ExternalProcessor
	rules   *mutationChecker

	reqMut, respMut  mutationList // header_mutation filter-level mutations
	mostSpecificWins bool

	maxRequestBytes uint32 // buffer filter

	jwtRequirements map[string]*JWTAuthnRequirement // jwt_authn requirement_map
	extAuthz        *extauthzv3.ExtAuthz
}

// hcmConfig holds the HttpConnectionManager settings the evaluator models.
type hcmConfig struct {
	useRemoteAddress          bool
	skipXffAppend             bool
	xffHops                   uint32
	internal                  []*net.IPNet
	generateRequestID         bool
	preserveExternalRequestID bool
	alwaysSetRequestIDInResp  bool
	fcc                       hcmv3.HttpConnectionManager_ForwardClientCertDetails
	proxy100Continue          bool
	appendXForwardedPort      bool
	serverName                string
	serverTransform           hcmv3.HttpConnectionManager_ServerHeaderTransformation
	maxHeadersKB              int
	maxHeadersCount           int
	allowCustomMethods        bool
	// streamErrorOnInvalidHTTPMessage is the HTTP/1 codec's setting: http_protocol_options
	// .override_stream_error_on_invalid_http_message, else the HCM's
	// stream_error_on_invalid_http_message (default false).
	streamErrorOnInvalidHTTPMessage bool

	filters        []*httpFilter
	extProc        *httpFilter
	headerMutation *httpFilter
	localReply     *localReplyConfig
	// accessLogs and xray: accesslog.go.
	accessLogs []*accessLogger
	xray       bool
}

func (h *hcmConfig) filterByName(name string) *httpFilter {
	for _, f := range h.filters {
		if f.name == name {
			return f
		}
	}
	return nil
}

func compileHCM(m *hcmv3.HttpConnectionManager) (*hcmConfig, error) {
	l := loc{path: []string{"http_connection_manager"}}
	if m == nil {
		return nil, l.errf("an HttpConnectionManager is required (router, local replies and header processing depend on it)")
	}
	if err := m.ValidateAll(); err != nil {
		return nil, l.errf("Envoy rejects this configuration (protoc-gen-validate): %v", err)
	}
	// Fields that do not change what the evaluator computes (timeouts, codec tuning, stats,
	// access logs) are accepted; fields that change request/response processing and are not
	// modelled are refused.
	if err := onlyFields(m, l,
		"codec_type", "stat_prefix", "rds", "route_config", "scoped_routes", "http_filters", "common_http_protocol_options",
		"http1_safe_max_connection_duration", "http_protocol_options", "http2_protocol_options",
		"http3_protocol_options", "server_name", "server_header_transformation", "max_request_headers_kb",
		"stream_idle_timeout", "stream_flush_timeout", "request_timeout", "request_headers_timeout",
		"drain_timeout", "drain_timeout_jitter", "delayed_close_timeout", "access_log",
		"access_log_flush_interval", "flush_access_log_on_new_request", "access_log_options",
		"use_remote_address", "xff_num_trusted_hops", "internal_address_config", "skip_xff_append",
		"generate_request_id", "preserve_external_request_id", "always_set_request_id_in_response",
		"forward_client_cert_details", "set_current_client_cert_details", "proxy_100_continue",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "local_reply_config",
		"stream_error_on_invalid_http_message", "append_x_forwarded_port", "record_route_resolution_stats",
		"add_user_agent", "tracing"); err != nil {
		return nil, err
	}
	if m.GetAddUserAgent().GetValue() {
		return nil, l.at("add_user_agent").errf("user-agent / x-envoy-downstream-service-* injection is not modelled")
	}
	// HCM-1/2/3: path normalisation must be off so the evaluator's :path is Envoy's :path.
	if m.GetNormalizePath().GetValue() {
		return nil, l.at("normalize_path").errf("RFC 3986 path normalisation is not modelled (set false, HCM-2)")
	}
	// normalize_path unset: "When not specified, this value may be overridden by the
	// runtime variable http_connection_manager.normalize_path" - the evaluator assumes the
	// runtime default (false); HCM-2 asks for it explicitly.
	if m.GetMergeSlashes() {
		return nil, l.at("merge_slashes").errf("slash merging is not modelled (HCM-1)")
	}
	switch m.GetPathWithEscapedSlashesAction() {
	case hcmv3.HttpConnectionManager_KEEP_UNCHANGED, hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT:
	default:
		return nil, l.at("path_with_escaped_slashes_action").errf("%v is not modelled (HCM-3)", m.GetPathWithEscapedSlashesAction())
	}
	if cpo := m.GetCommonHttpProtocolOptions(); cpo != nil {
		if err := onlyFields(cpo, l.at("common_http_protocol_options"), "idle_timeout", "max_connection_duration",
			"max_headers_count", "max_stream_duration", "headers_with_underscores_action", "max_requests_per_connection",
			"max_response_headers_count"); err != nil {
			return nil, err
		}
		if cpo.GetHeadersWithUnderscoresAction() != corev3.HttpProtocolOptions_ALLOW {
			return nil, l.at("common_http_protocol_options.headers_with_underscores_action").errf("only ALLOW is modelled (HCM-11)")
		}
	}
	if hpo := m.GetHttpProtocolOptions(); hpo != nil {
		if err := onlyFields(hpo, l.at("http_protocol_options"), "accept_http_10", "default_host_for_http_10",
			"header_key_format", "enable_trailers", "allow_chunked_length", "override_stream_error_on_invalid_http_message",
			"allow_custom_methods"); err != nil {
			return nil, err
		}
	}

	h := &hcmConfig{
		useRemoteAddress:          m.GetUseRemoteAddress().GetValue(),
		skipXffAppend:             m.GetSkipXffAppend(),
		xffHops:                   m.GetXffNumTrustedHops(),
		generateRequestID:         m.GetGenerateRequestId() == nil || m.GetGenerateRequestId().GetValue(), // "This defaults to true."
		preserveExternalRequestID: m.GetPreserveExternalRequestId(),
		alwaysSetRequestIDInResp:  m.GetAlwaysSetRequestIdInResponse(),
		fcc:                       m.GetForwardClientCertDetails(),
		proxy100Continue:          m.GetProxy_100Continue(),
		appendXForwardedPort:      m.GetAppendXForwardedPort(),
		serverName:                m.GetServerName(),
		serverTransform:           m.GetServerHeaderTransformation(),
		maxHeadersKB:              60,  // HCM proto: max_request_headers_kb "defaults to 60 KiB"
		maxHeadersCount:           100, // HttpProtocolOptions.max_headers_count: "default value is 100"
	}
	if h.serverName == "" {
		h.serverName = "envoy" // server_name: "If not set, the default is envoy."
	}
	// http_protocol_options.allow_custom_methods (default false): BalsaParser's
	// isMethodValid (codecCheck).
	h.allowCustomMethods = m.GetHttpProtocolOptions().GetAllowCustomMethods()
	h.streamErrorOnInvalidHTTPMessage = m.GetStreamErrorOnInvalidHttpMessage().GetValue()
	if o := m.GetHttpProtocolOptions().GetOverrideStreamErrorOnInvalidHttpMessage(); o != nil {
		h.streamErrorOnInvalidHTTPMessage = o.GetValue()
	}
	if m.GetMaxRequestHeadersKb() != nil {
		h.maxHeadersKB = int(m.GetMaxRequestHeadersKb().GetValue())
	}
	if mhc := m.GetCommonHttpProtocolOptions().GetMaxHeadersCount(); mhc != nil {
		h.maxHeadersCount = int(mhc.GetValue())
	}
	if iac := m.GetInternalAddressConfig(); iac != nil {
		if err := onlyFields(iac, l.at("internal_address_config"), "unix_sockets", "cidr_ranges"); err != nil {
			return nil, err
		}
		if len(iac.GetCidrRanges()) == 0 {
			// "If unset, then RFC1918 / RFC4193 IP addresses will be considered internal"
			// conflicts with the 1.33 change that trusts no address by default; refuse
			// rather than guess.
			return nil, l.at("internal_address_config").errf("set cidr_ranges explicitly: the default set changed across Envoy versions")
		}
		for i, c := range iac.GetCidrRanges() {
			_, n, err := net.ParseCIDR(fmt.Sprintf("%s/%d", c.GetAddressPrefix(), c.GetPrefixLen().GetValue()))
			if err != nil {
				return nil, l.at(fmt.Sprintf("internal_address_config.cidr_ranges[%d]", i)).errf("%v", err)
			}
			h.internal = append(h.internal, n)
		}
	}
	// else: "As of Envoy 1.33.0 no IP addresses will be considered trusted" (HCM proto,
	// internal_address_config) - h.internal stays empty (HCM-16).

	if len(m.GetHttpFilters()) == 0 {
		return nil, l.at("http_filters").errf("no HTTP filters (a router filter is required)")
	}
	for i, f := range m.GetHttpFilters() {
		fl := l.at(fmt.Sprintf("http_filters[%d]", i))
		if err := onlyFields(f, fl, "name", "typed_config", "disabled", "is_optional"); err != nil {
			return nil, err
		}
		hf := &httpFilter{name: f.GetName(), disabled: f.GetDisabled()}
		tc := f.GetTypedConfig()
		if tc == nil {
			return nil, fl.errf("filter %q has no typed_config", f.GetName())
		}
		switch tc.GetTypeUrl() {
		case typeExtProc:
			ep := &extprocfilterv3.ExternalProcessor{}
			if err := tc.UnmarshalTo(ep); err != nil {
				return nil, fl.errf("%v", err)
			}
			if err := ep.ValidateAll(); err != nil {
				return nil, fl.errf("Envoy rejects this configuration: %v", err)
			}
			if err := verifyProcessingMode(ep.GetProcessingMode()); err != nil {
				return nil, fl.at("typed_config.processing_mode").errf("Envoy rejects this configuration: %v", err)
			}
			rules, err := compileMutationRules(ep.GetMutationRules(), fl.at("typed_config.mutation_rules"))
			if err != nil {
				return nil, err
			}
			hf.kind, hf.extProc, hf.rules = filterExtProc, ep, rules
			if h.extProc != nil {
				return nil, fl.errf("more than one ext_proc filter is not modelled")
			}
			h.extProc = hf
		case typeHeaderMutation:
			hm := &headermutationv3.HeaderMutation{}
			if err := tc.UnmarshalTo(hm); err != nil {
				return nil, fl.errf("%v", err)
			}
			if err := hm.ValidateAll(); err != nil {
				return nil, fl.errf("Envoy rejects this configuration: %v", err)
			}
			req, resp, err := compileHMMutations(hm.GetMutations(), fl.at("typed_config.mutations"))
			if err != nil {
				return nil, err
			}
			hf.kind, hf.reqMut, hf.respMut, hf.mostSpecificWins = filterHeaderMutation, req, resp, hm.GetMostSpecificHeaderMutationsWins()
			if h.headerMutation != nil {
				return nil, fl.errf("more than one header_mutation filter is not modelled")
			}
			h.headerMutation = hf
		case typeBuffer:
			b := &bufferv3.Buffer{}
			if err := tc.UnmarshalTo(b); err != nil {
				return nil, fl.errf("%v", err)
			}
			if err := b.ValidateAll(); err != nil {
				return nil, fl.errf("Envoy rejects this configuration: %v", err)
			}
			hf.kind, hf.maxRequestBytes = filterBuffer, b.GetMaxRequestBytes().GetValue()
		case typeJWTAuthn:
			ja := &jwtauthnv3.JwtAuthentication{}
			if err := unmarshalValidate(tc, ja); err != nil {
				return nil, fl.errf("%v", err)
			}
			reqs, err := compileJWTAuthn(ja, fl.at("typed_config"))
			if err != nil {
				return nil, err
			}
			hf.kind, hf.jwtRequirements = filterJWTAuthn, reqs
		case typeExtAuthz:
			ea := &extauthzv3.ExtAuthz{}
			if err := unmarshalValidate(tc, ea); err != nil {
				return nil, fl.errf("%v", err)
			}
			if err := compileExtAuthz(ea, fl.at("typed_config")); err != nil {
				return nil, err
			}
			hf.kind, hf.extAuthz = filterExtAuthz, ea
		case typeRouter:
			r := &routerv3.Router{}
			if err := tc.UnmarshalTo(r); err != nil {
				return nil, fl.errf("%v", err)
			}
			if err := onlyFields(r, fl.at("typed_config"), "dynamic_stats", "start_child_span", "upstream_log",
				"upstream_log_options", "suppress_envoy_headers", "strict_check_headers", "respect_expected_rq_timeout",
				"suppress_grpc_request_failure_code_stats", "reject_connect_request_early_data"); err != nil {
				return nil, err
			}
			// HCM-9: with suppress_envoy_headers false the router adds
			// x-envoy-expected-rq-timeout-ms, x-envoy-original-path and
			// x-envoy-upstream-service-time; those are not modelled.
			if !r.GetSuppressEnvoyHeaders() {
				return nil, fl.at("typed_config.suppress_envoy_headers").errf("only suppress_envoy_headers: true is modelled (HCM-9)")
			}
			if i != len(m.GetHttpFilters())-1 {
				return nil, fl.errf("the router must be the last filter")
			}
			hf.kind = filterRouter
		default:
			return nil, fl.errf("HTTP filter type %s is not modelled by the evaluator", tc.GetTypeUrl())
		}
		h.filters = append(h.filters, hf)
	}
	if h.filters[len(h.filters)-1].kind != filterRouter {
		return nil, l.at("http_filters").errf("the last filter must be envoy.filters.http.router")
	}
	lr, err := compileLocalReply(m.GetLocalReplyConfig(), l.at("local_reply_config"))
	if err != nil {
		return nil, err
	}
	h.localReply = lr
	if err := compileAccessLogs(m, h, l); err != nil {
		return nil, err
	}
	return h, nil
}

func compileHMMutations(m *headermutationv3.Mutations, l loc) (req, resp mutationList, err error) {
	if m == nil {
		return nil, nil, nil
	}
	if err := onlyFields(m, l, "request_mutations", "response_mutations"); err != nil {
		return nil, nil, err
	}
	if req, err = compileMutations(m.GetRequestMutations(), l.at("request_mutations")); err != nil {
		return nil, nil, err
	}
	if resp, err = compileMutations(m.GetResponseMutations(), l.at("response_mutations")); err != nil {
		return nil, nil, err
	}
	return req, resp, nil
}

// mutationChecker is Filters::Common::MutationRules::Checker
// (source/extensions/filters/common/mutation_rules/mutation_rules.cc) as used by ext_proc.
type mutationChecker struct {
	allowRe, disallowRe *regexp.Regexp
	disallowAll         bool
	allowAllRouting     bool
	disallowSystem      bool
	allowEnvoy          bool
	disallowIsError     bool
}

func compileMutationRules(r *mutationv3.HeaderMutationRules, l loc) (*mutationChecker, error) {
	c := &mutationChecker{}
	if r == nil {
		return c, nil
	}
	c.disallowAll = r.GetDisallowAll().GetValue()
	c.allowAllRouting = r.GetAllowAllRouting().GetValue()
	c.disallowSystem = r.GetDisallowSystem().GetValue()
	c.allowEnvoy = r.GetAllowEnvoy().GetValue()
	c.disallowIsError = r.GetDisallowIsError().GetValue()
	var err error
	if r.GetAllowExpression() != nil {
		if c.allowRe, err = compileFullRegex(r.GetAllowExpression(), l.at("allow_expression")); err != nil {
			return nil, err
		}
	}
	if r.GetDisallowExpression() != nil {
		if c.disallowRe, err = compileFullRegex(r.GetDisallowExpression(), l.at("disallow_expression")); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// local replies -------------------------------------------------------------------------

type bodyFormat struct {
	text        *formatter
	json        *jsonFormat
	omitEmpty   bool
	contentType string
}

// defaultBodyFormat is LocalReply's BodyFormatter(): "%LOCAL_REPLY_BODY%", text/plain
// (source/common/local_reply/local_reply.cc).
var defaultBodyFormat = &bodyFormat{
	text:        &formatter{tokens: []fmtToken{{cmd: "LOCAL_REPLY_BODY", maxLen: -1}}},
	contentType: "text/plain",
}

func compileBodyFormat(s *corev3.SubstitutionFormatString, l loc) (*bodyFormat, error) {
	return compileFormat(s, l, opsLocalReply)
}

// compileFormat is a SubstitutionFormatString with the operators of ops.
func compileFormat(s *corev3.SubstitutionFormatString, l loc, ops opSet) (*bodyFormat, error) {
	if s == nil {
		return nil, nil
	}
	if err := onlyFields(s, l, "text_format", "json_format", "text_format_source", "omit_empty_values", "content_type", "json_format_options"); err != nil {
		return nil, err
	}
	b := &bodyFormat{omitEmpty: s.GetOmitEmptyValues(), contentType: s.GetContentType()}
	var err error
	switch f := s.GetFormat().(type) {
	case *corev3.SubstitutionFormatString_TextFormat:
		b.text, err = parseFormat(f.TextFormat, ops)
		if b.contentType == "" {
			b.contentType = "text/plain"
		}
	case *corev3.SubstitutionFormatString_TextFormatSource:
		if err := onlyFields(f.TextFormatSource, l.at("text_format_source"), "inline_string", "inline_bytes"); err != nil {
			return nil, err
		}
		src := f.TextFormatSource.GetInlineString()
		if b := f.TextFormatSource.GetInlineBytes(); b != nil {
			src = string(b)
		}
		b.text, err = parseFormat(src, ops)
		if b.contentType == "" {
			b.contentType = "text/plain"
		}
	case *corev3.SubstitutionFormatString_JsonFormat:
		b.json, err = compileJSONFormat(f.JsonFormat, ops)
		if b.contentType == "" {
			b.contentType = "application/json"
		}
	default:
		return nil, l.errf("no format")
	}
	if err != nil {
		return nil, l.wrap(err)
	}
	return b, nil
}

func (b *bodyFormat) format(c *fmtCtx) (string, error) {
	if b.json != nil {
		return b.json.render(c, b.omitEmpty)
	}
	return b.text.text(c, b.omitEmpty)
}

type lrInput struct {
	req   *headerMap
	code  int
	flags map[string]bool
	meta  map[string]*structpb.Struct
	// route is the route's proxyplus metadata (CEL filters, access logs only); hasRoute is set when there is a route.
	route    map[string]any
	hasRoute bool
}

type lrFilter func(*lrInput) bool

type responseMapper struct {
	filter     lrFilter
	status     int
	body       *string
	bodyFormat *bodyFormat
	headers    *headerOps
}

type localReplyConfig struct {
	mappers    []*responseMapper
	bodyFormat *bodyFormat
}

func compileLocalReply(c *hcmv3.LocalReplyConfig, l loc) (*localReplyConfig, error) {
	lr := &localReplyConfig{}
	if c == nil {
		return lr, nil
	}
	if err := onlyFields(c, l, "mappers", "body_format"); err != nil {
		return nil, err
	}
	var err error
	if lr.bodyFormat, err = compileBodyFormat(c.GetBodyFormat(), l.at("body_format")); err != nil {
		return nil, err
	}
	for i, m := range c.GetMappers() {
		ml := l.at(fmt.Sprintf("mappers[%d]", i))
		if err := onlyFields(m, ml, "filter", "status_code", "body", "body_format_override", "headers_to_add"); err != nil {
			return nil, err
		}
		rm := &responseMapper{}
		if rm.filter, err = compileALFilter(m.GetFilter(), ml.at("filter")); err != nil {
			return nil, err
		}
		if m.GetStatusCode() != nil {
			rm.status = int(m.GetStatusCode().GetValue())
		}
		if m.GetBody() != nil {
			s, err := dataSource(m.GetBody(), ml.at("body"))
			if err != nil {
				return nil, err
			}
			rm.body = &s
		}
		if rm.bodyFormat, err = compileBodyFormat(m.GetBodyFormatOverride(), ml.at("body_format_override")); err != nil {
			return nil, err
		}
		if rm.headers, err = compileHeaderOps(m.GetHeadersToAdd(), nil, ml, "headers_to_add", "", opsLocalReply); err != nil {
			return nil, err
		}
		lr.mappers = append(lr.mappers, rm)
	}
	return lr, nil
}

func dataSource(d *corev3.DataSource, l loc) (string, error) {
	if err := onlyFields(d, l, "inline_string", "inline_bytes"); err != nil {
		return "", err
	}
	if b := d.GetInlineBytes(); b != nil {
		return string(b), nil
	}
	return d.GetInlineString(), nil
}

// knownResponseFlags is the ResponseFlagFilter.flags "in" list (accesslog.proto).
var knownResponseFlags = map[string]bool{}

func init() {
	for _, f := range strings.Fields("LH UH UT LR UR UF UC UO NR DI FI RL UAEX RLSE DC URX SI IH DPE UMSDR RFCF NFCF DT UPE NC OM DF DO DR UDO") {
		knownResponseFlags[f] = true
	}
}

// compileALFilter compiles the access-log filters local reply mappers use
// (source/common/access_log/access_log_impl.cc). Envoy's AccessLogFilter has no "not"
// filter; negate with header_filter.invert_match or a status comparison instead.
func compileALFilter(f *accesslogv3.AccessLogFilter, l loc) (lrFilter, error) {
	switch x := f.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		cl := l.at("status_code_filter")
		if err := onlyFields(x.StatusCodeFilter, cl, "comparison"); err != nil {
			return nil, err
		}
		cmp := x.StatusCodeFilter.GetComparison()
		if err := onlyFields(cmp, cl.at("comparison"), "op", "value"); err != nil {
			return nil, err
		}
		// ComparisonFilter::compareAgainstValue reads runtime_key from the runtime first;
		// the evaluator has no runtime layer and uses default_value.
		v := int(cmp.GetValue().GetDefaultValue())
		op := cmp.GetOp()
		return func(in *lrInput) bool {
			switch op {
			case accesslogv3.ComparisonFilter_EQ:
				return in.code == v
			case accesslogv3.ComparisonFilter_GE:
				return in.code >= v
			case accesslogv3.ComparisonFilter_LE:
				return in.code <= v
			case accesslogv3.ComparisonFilter_NE:
				return in.code != v
			}
			return false
		}, nil
	case *accesslogv3.AccessLogFilter_ResponseFlagFilter:
		if err := onlyFields(x.ResponseFlagFilter, l.at("response_flag_filter"), "flags"); err != nil {
			return nil, err
		}
		want := x.ResponseFlagFilter.GetFlags()
		// ResponseFlagFilter::evaluate: any configured flag set -> true; no flags
		// configured -> any response flag set.
		return func(in *lrInput) bool {
			if len(want) == 0 {
				return len(in.flags) > 0
			}
			for _, w := range want {
				if in.flags[w] {
					return true
				}
			}
			return false
		}, nil
	case *accesslogv3.AccessLogFilter_HeaderFilter:
		if err := onlyFields(x.HeaderFilter, l.at("header_filter"), "header"); err != nil {
			return nil, err
		}
		hm, err := compileHeaderMatcher(x.HeaderFilter.GetHeader(), l.at("header_filter.header"))
		if err != nil {
			return nil, err
		}
		// HeaderFilter::evaluate matches the *request* headers.
		return func(in *lrInput) bool { return hm.match(in.req) }, nil
	case *accesslogv3.AccessLogFilter_MetadataFilter:
		return compileMetadataFilter(x.MetadataFilter, l.at("metadata_filter"))
	case *accesslogv3.AccessLogFilter_ExtensionFilter:
		return compileCELFilter(x.ExtensionFilter, l.at("extension_filter"))
	case *accesslogv3.AccessLogFilter_AndFilter, *accesslogv3.AccessLogFilter_OrFilter:
		var subs []*accesslogv3.AccessLogFilter
		and := false
		if a, ok := x.(*accesslogv3.AccessLogFilter_AndFilter); ok {
			subs, and = a.AndFilter.GetFilters(), true
		} else {
			subs = x.(*accesslogv3.AccessLogFilter_OrFilter).OrFilter.GetFilters()
		}
		var fs []lrFilter
		for i, s := range subs {
			name := "or_filter"
			if and {
				name = "and_filter"
			}
			sf, err := compileALFilter(s, l.at(fmt.Sprintf("%s.filters[%d]", name, i)))
			if err != nil {
				return nil, err
			}
			fs = append(fs, sf)
		}
		return func(in *lrInput) bool {
			for _, sf := range fs {
				if sf(in) != and {
					return !and
				}
			}
			return and
		}, nil
	default:
		name := "filter_specifier"
		if fd := f.ProtoReflect().WhichOneof(f.ProtoReflect().Descriptor().Oneofs().ByName("filter_specifier")); fd != nil {
			name = string(fd.Name())
		}
		return nil, l.at(name).errf("access log filter %s is not supported by the evaluator (supported: status_code_filter, response_flag_filter, header_filter, metadata_filter, and_filter, or_filter)", name)
	}
}

// compileMetadataFilter is AccessLog::MetadataFilter: if the value at filter/path is
// present in dynamic metadata, the result is the value matcher's; otherwise
// match_if_key_not_found (default true: "if unset or true, then log").
func compileMetadataFilter(mf *accesslogv3.MetadataFilter, l loc) (lrFilter, error) {
	if err := onlyFields(mf, l, "matcher", "match_if_key_not_found"); err != nil {
		return nil, err
	}
	mm := mf.GetMatcher()
	if err := onlyFields(mm, l.at("matcher"), "filter", "path", "value"); err != nil {
		// MetadataMatcher.invert is not applied by the access-log MetadataFilter.
		return nil, err
	}
	var path []string
	for i, p := range mm.GetPath() {
		if err := onlyFields(p, l.at(fmt.Sprintf("matcher.path[%d]", i)), "key"); err != nil {
			return nil, err
		}
		path = append(path, p.GetKey())
	}
	vm, err := compileValueMatcher(mm.GetValue(), l.at("matcher.value"))
	if err != nil {
		return nil, err
	}
	def := mf.GetMatchIfKeyNotFound() == nil || mf.GetMatchIfKeyNotFound().GetValue()
	ns := mm.GetFilter()
	return func(in *lrInput) bool {
		v := metadataValue(in.meta, ns, path)
		if v == nil || v.GetKind() == nil {
			return def
		}
		return vm != nil && vm(v)
	}, nil
}

func metadataValue(meta map[string]*structpb.Struct, ns string, path []string) *structpb.Value {
	s := meta[ns]
	if s == nil || len(path) == 0 {
		return nil
	}
	var v *structpb.Value
	for i, k := range path {
		v = s.GetFields()[k]
		if v == nil {
			return nil
		}
		if i < len(path)-1 {
			s = v.GetStructValue()
			if s == nil {
				return nil
			}
		}
	}
	return v
}

// compileValueMatcher is Matchers::ValueMatcher for the kinds the evaluator supports.
func compileValueMatcher(vm *matcherv3.ValueMatcher, l loc) (func(*structpb.Value) bool, error) {
	switch x := vm.GetMatchPattern().(type) {
	case *matcherv3.ValueMatcher_StringMatch:
		sm, err := compileStringMatcher(x.StringMatch, l.at("string_match"))
		if err != nil {
			return nil, err
		}
		return func(v *structpb.Value) bool {
			s, ok := v.GetKind().(*structpb.Value_StringValue)
			return ok && sm.match(s.StringValue)
		}, nil
	case *matcherv3.ValueMatcher_BoolMatch:
		want := x.BoolMatch
		return func(v *structpb.Value) bool {
			b, ok := v.GetKind().(*structpb.Value_BoolValue)
			return ok && b.BoolValue == want
		}, nil
	case *matcherv3.ValueMatcher_PresentMatch:
		// PresentMatcher: present_ && kind set.
		want := x.PresentMatch
		return func(v *structpb.Value) bool { return want && v.GetKind() != nil }, nil
	case *matcherv3.ValueMatcher_NullMatch_:
		return func(v *structpb.Value) bool {
			_, ok := v.GetKind().(*structpb.Value_NullValue)
			return ok
		}, nil
	case *matcherv3.ValueMatcher_DoubleMatch:
		e, ok := x.DoubleMatch.GetMatchPattern().(*matcherv3.DoubleMatcher_Exact)
		if !ok {
			return nil, l.at("double_match").errf("only exact double matching is supported by the evaluator")
		}
		return func(v *structpb.Value) bool {
			n, ok := v.GetKind().(*structpb.Value_NumberValue)
			return ok && n.NumberValue == e.Exact
		}, nil
	default:
		return nil, l.errf("value matcher %T is not supported by the evaluator", x)
	}
}
