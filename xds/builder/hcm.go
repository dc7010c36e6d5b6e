package builder

import (
	"fmt"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/ir"
)

// httpConnectionManager carries the settings API Gateway fidelity needs (envoy-notes §2, HCM-1..HCM-18).
func httpConnectionManager(cfg *ir.Config, usesProcessor bool) (*hcmv3.HttpConnectionManager, error) {
	filters, err := authFilters(cfg)
	if err != nil {
		return nil, err
	}
	if usesProcessor {
		f, err := extProcFilter(cfg)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	buf, err := bufferFilter()
	if err != nil {
		return nil, err
	}
	hm, err := headerMutationFilter()
	if err != nil {
		return nil, err
	}
	filters = append(filters, buf, hm)
	router, err := anypb.New(&routerv3.Router{
		// No x-envoy-* headers towards backends or clients (HCM-9).
		SuppressEnvoyHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("router filter: %w", err)
	}
	filters = append(filters, &hcmv3.HttpFilter{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}})

	h := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: "proxyplus",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: RouteConfigName,
		}},
		HttpFilters: filters,
		// Inner "//" must reach the resource path and {proxy} (HCM-1, RTE-4).
		MergeSlashes: false,
		// RFC 3986 normalisation would rewrite what API Gateway passes verbatim (HCM-2, EVT-3); the default is
		// runtime-flippable, so it is set explicitly.
		NormalizePath: wrapperspb.Bool(false),
		// %2F neither splits segments nor is decoded (HCM-3, RTE-7).
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		// Client address for X-Forwarded-For and sourceIp (HCM-5), X-Forwarded-Port (HCM-6).
		UseRemoteAddress:     wrapperspb.Bool(true),
		AppendXForwardedPort: true,
		// API Gateway adds no x-request-id (HCM-7).
		GenerateRequestId: wrapperspb.Bool(false),
		// No "server: envoy" (HCM-8).
		ServerHeaderTransformation: hcmv3.HttpConnectionManager_PASS_THROUGH,
		// Request line + headers limit, 10 KiB → 431 (HCM-10, LIM-2, DEV-6).
		MaxRequestHeadersKb: wrapperspb.UInt32(10),
		// AWS limits header bytes, not their count (HCM-11).
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{MaxHeadersCount: wrapperspb.UInt32(500)},
		// No client is "internal": otherwise Envoy honours x-envoy-* request headers from loopback and private
		// clients (HCM-16). Unset cidr_ranges means Envoy's default RFC 1918/4193 set, so the list names only the
		// unspecified addresses, which no real peer has.
		InternalAddressConfig: &hcmv3.HttpConnectionManager_InternalAddressConfig{UnixSockets: false, CidrRanges: []*corev3.CidrRange{
			{AddressPrefix: "0.0.0.0", PrefixLen: wrapperspb.UInt32(32)},
			{AddressPrefix: "::", PrefixLen: wrapperspb.UInt32(128)},
		}},
		LocalReplyConfig: localReplyConfig(),
	}
	// Local-reply mappers, of which Envoy applies the first whose filter matches and no other
	// (LocalReplyImpl::rewrite, source/common/local_reply/local_reply.cc, main 1.37.0-dev, 321a098d81): the
	// stages' customised gateway responses for the errors Envoy makes itself (gatewaymappers.go: 5xx and 413 not
	// from the processor), then the Cognito refusals (jwtauthn.go: 401 with jwt_authn's failure metadata), then
	// localReplyConfig's own (the processor's content-type first). The first two groups match disjoint replies
	// (status and metadata differ), so their relative order changes nothing; both must precede localReplyConfig's
	// catch-alls for the same statuses.
	mappers := gatewayResponseMappers(cfg)
	if usesCognito(cfg) {
		mappers = append(mappers, cognitoMappers(cfg)...)
	}
	h.LocalReplyConfig.Mappers = append(mappers, h.LocalReplyConfig.Mappers...)
	// Access logs and X-Ray tracing at the edge (accesslog.go).
	if err := observability(h, cfg); err != nil {
		return nil, err
	}
	if usesProcessor {
		// Envoy's backstop for Lambda routes, which play ext_proc in FULL_DUPLEX_STREAMED mode where no message
		// timer runs (processor_state.cc ProcessorState::onStartProcessorCall) and which, as direct_response
		// routes, have no route entry for a route timeout, idle_timeout or max_stream_duration
		// (conn_manager_impl.cc ActiveStream::refreshIdleTimeout / refreshDurationTimeout return early). Nothing
		// moves on the downstream stream while Envoy waits for the processor (the ext_proc filter never resets
		// the idle timer), so a hung processor or function gets ActiveStream::onIdleTimeout: a local reply with
		// maybeRequestTimeoutCode(true) = 504 once the request was read (source/common/http/utility.cc), which
		// the 504 mapper turns into API Gateway's timeout (OUT-17). The value is above every integration timeout,
		// so the processor's own 504 comes first (EXT-11); on routing routes the route timeout is shorter still.
		// Envoy main 1.37.0-dev, 321a098d81.
		h.StreamIdleTimeout = durationpb.New(time.Duration(cfg.ExtProc.MessageTimeout))
	}
	return h, nil
}

// localReplyConfig shapes the replies Envoy generates itself like API Gateway's (HCM-12). Each mapper has a
// narrow filter so that direct-response 403s and processor responses pass untouched; there is no top-level
// body_format, which would rewrite every local reply.
func localReplyConfig() *hcmv3.LocalReplyConfig {
	return &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{
		// A processor reply keeps its Content-Type when its body is empty (OUT-15): Utility::prepareLocalReply
		// (source/common/http/utility.cc, Envoy main 1.37.0-dev) removes content-type from a local reply with an
		// empty body after the mappers ran, and nothing but the encoder filters runs after it
		// (DownstreamFilterManager::sendLocalReplyViaFilterChain → encodeHeaders(nullptr, ...)). So this mapper
		// copies the reply's content-type to LocalReplyContentTypeHeader, which prepareLocalReply leaves alone, and
		// the Lambda route's header_mutation puts it back (lambdaContentTypeFilterConfig). It sets no body, status
		// or format: the default body formatter leaves the body and an existing content-type as they are.
		{
			Filter: fromProcessor(),
			HeadersToAdd: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: LocalReplyContentTypeHeader, Value: "%RESP(content-type)%"},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		},
		// Upstream timeout → 504 (HTP-14, ERR-2).
		jsonMapper(responseFlags("UT"), 504, `{"message": "Endpoint request timed out"}`, "InternalServerErrorException"),
		// Any other 504 Envoy makes itself — chiefly the ext_proc message timeout (EXT-11, EXT-16) — is the same
		// API Gateway timeout; the processor's own 504s carry the marker and pass.
		{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: []*accesslogv3.AccessLogFilter{
				statusIs(504), notFromProcessor(),
			}}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format:      &corev3.SubstitutionFormatString_TextFormat{TextFormat: `{"message": "Endpoint request timed out"}`},
				ContentType: "application/json",
			},
			HeadersToAdd: gatewayHeaders("InternalServerErrorException")[1:],
		},
		// Backend unreachable: connect failure, reset, no healthy host, overflow, DNS → 500 (HTP-15, OPEN-2).
		jsonMapper(responseFlags("UF", "URX", "UH", "UC", "UO", "DF"), 500, `{"message": "Internal server error"}`, "InternalServerErrorException"),
		// Every other 500 the gateway makes itself: Lambda routes' fallback action, integrations that fail at
		// request time (RES-13, EVT-29, HTP-10), ext_proc stream failures (EXT-16). Processor responses pass.
		{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: []*accesslogv3.AccessLogFilter{
				statusIs(500), notFromProcessor(),
			}}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format:      &corev3.SubstitutionFormatString_TextFormat{TextFormat: `{"message": "Internal server error"}`},
				ContentType: "application/json",
			},
			HeadersToAdd: gatewayHeaders("InternalServerErrorException")[1:],
		},
		// Request body over the buffer limit (LIM-1): API Gateway's plain-text 413 without x-amzn-* headers
		// (ERR-2). Processor responses carry the proxyplus marker in dynamic metadata and are left alone.
		{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: []*accesslogv3.AccessLogFilter{
				statusIs(413), notFromProcessor(),
			}}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format:      &corev3.SubstitutionFormatString_TextFormat{TextFormat: "HTTP content length exceeded 10485760 bytes."},
				ContentType: "text; charset=utf-8",
			},
		},
	}}
}

func jsonMapper(f *accesslogv3.AccessLogFilter, status uint32, body, errorType string) *hcmv3.ResponseMapper {
	return &hcmv3.ResponseMapper{
		Filter:     f,
		StatusCode: wrapperspb.UInt32(status),
		BodyFormatOverride: &corev3.SubstitutionFormatString{
			// Literal bytes: no command operators inside.
			Format:      &corev3.SubstitutionFormatString_TextFormat{TextFormat: body},
			ContentType: "application/json",
		},
		HeadersToAdd: gatewayHeaders(errorType)[1:], // content type comes from the format
	}
}

func responseFlags(flags ...string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: flags}}}
}

func statusIs(code uint32) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
		Comparison: &accesslogv3.ComparisonFilter{Op: accesslogv3.ComparisonFilter_EQ, Value: &corev3.RuntimeUInt32{DefaultValue: code, RuntimeKey: "proxyplus.local_reply.status"}},
	}}}
}

// ProcessorMetadataNamespace is the dynamic-metadata namespace the processor sets on every response it makes.
const ProcessorMetadataNamespace = "proxyplus"

// notFromProcessor matches when the processor's marker is absent: the matcher asks for processor == false,
// which the processor never sets, and a missing key counts as a match (AccessLogFilter MetadataFilter,
// match_if_key_not_found).
func notFromProcessor() *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{MetadataFilter: &accesslogv3.MetadataFilter{
		Matcher:            processorMarker(),
		MatchIfKeyNotFound: wrapperspb.Bool(true),
	}}}
}

// fromProcessor matches a reply that carries the processor's marker (AccessLogFilter MetadataFilter; a missing
// key does not match).
func fromProcessor() *accesslogv3.AccessLogFilter {
	m := processorMarker()
	m.Value = &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_BoolMatch{BoolMatch: true}}
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{MetadataFilter: &accesslogv3.MetadataFilter{
		Matcher:            m,
		MatchIfKeyNotFound: wrapperspb.Bool(false),
	}}}
}

func processorMarker() *matcherv3.MetadataMatcher {
	return &matcherv3.MetadataMatcher{
		Filter: ProcessorMetadataNamespace,
		Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: "processor"}}},
		Value:  &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_BoolMatch{BoolMatch: false}},
	}
}
