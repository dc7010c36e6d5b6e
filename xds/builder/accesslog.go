package builder

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	otelalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	otlpcommonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/ir"
)

// Access logs as API Gateway stages define them (issue 14). Every request Envoy sees is logged once — Lambda
// routes, HTTP_PROXY and MOCK routes, and the answers Envoy makes itself (403 catch-alls, 413, 504, codec
// rejections) — in the format of the request's stage (Stage.accessLogSettings.format, $context variables
// translated into Envoy command operators) or in DefaultAccessLogFormat.
//
// Each format is two access loggers: one for answers the processor made (the proxyplus marker in dynamic
// metadata, fromProcessor), where the values only the processor knows (requestId, integration latency and
// status, error.message, traceId; extproc/logmeta.go) come from %DYNAMIC_METADATA(proxyplus:…)%, and one for
// every other answer, where they come from the response headers and Envoy's stream info. A stage with its own
// format marks its routes (route metadata proxyplus.accessLog = "<apiId>/<stage>") and its loggers select them
// with a CEL filter on xds.route_metadata (envoy.access_loggers.extension_filters.cel: "expression errors are
// considered false", so a request without a route or metadata is never selected); the default loggers take the
// rest, and requests without a route (response flags NR, DPE).
//
// Command operators used, as Envoy parses them (source/common/formatter/stream_info_formatter.cc and
// http_specific_formatter.cc, main 1.37.0-dev 321a098d81): %START_TIME(fmt)% (SystemTimeFormatter: strftime
// specifiers, %s epoch seconds, %3f milliseconds), %REQ(h)% and %RESP(h)% (first value), %RESPONSE_CODE%,
// %PROTOCOL%, %BYTES_SENT% (body bytes sent), %DURATION% and %RESPONSE_DURATION% (ms),
// %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %DYNAMIC_METADATA(ns:key)% (MetadataFormatter::formatMetadata: a
// string as is, a number in JSON form), %METADATA(ROUTE:ns:key)% (source/extensions/formatter/metadata, a
// built-in command parser), %TRACE_ID% (TraceIDFormatter: the active span's id; the X-Ray tracer's is
// "1-<8 hex>-<24 hex>"), %RESPONSE_CODE_DETAILS%, %RESPONSE_FLAGS%. A missing value is "-" in a text format and
// null in json_format.

// AccessLogMetadataKey is the route metadata key (namespace MetadataNamespace) naming the stage whose own format
// logs the route's requests.
const AccessLogMetadataKey = "accessLog"

// DefaultAccessLogFormat is the JSON logged for stages without accessLogSettings: API Gateway's JSON example
// fields and the ones an operator of proxyplus needs (integration, error, trace, Envoy's details and flags).
var DefaultAccessLogFormat = []struct{ Key, Variable string }{
	{"requestId", "requestId"}, {"extendedRequestId", "extendedRequestId"}, {"ip", "identity.sourceIp"},
	{"requestTime", "requestTime"}, {"requestTimeEpoch", "requestTimeEpoch"}, {"httpMethod", "httpMethod"},
	{"resourcePath", "resourcePath"}, {"path", "path"}, {"protocol", "protocol"}, {"status", "status"},
	{"responseLength", "responseLength"}, {"responseLatency", "responseLatency"},
	{"integrationLatency", "integrationLatency"}, {"integrationStatus", "integrationStatus"},
	{"functionStatus", "integration.status"}, {"errorMessage", "error.message"},
	{"errorResponseType", "error.responseType"}, {"xrayTraceId", "xrayTraceId"}, {"userAgent", "identity.userAgent"},
	{"domainName", "domainName"},
}

// accessLogs is the HCM's access_log list for cfg; nil when the sink is "off".
func accessLogs(cfg *ir.Config) ([]*accesslogv3.AccessLog, error) {
	var sink ir.AccessLogSink
	if cfg.AccessLog != nil {
		sink = *cfg.AccessLog
	}
	if sink.Kind == ir.AccessLogOff {
		return nil, nil
	}
	var out []*accesslogv3.AccessLog
	var custom []string
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			if st.AccessLog == nil || st.AccessLog.Format == "" {
				continue
			}
			parts, err := ir.ParseAccessLogFormat(st.AccessLog.Format)
			if err != nil {
				return nil, fmt.Errorf("api %s stage %s: accessLogSettings.format: %w", api.ID, st.Name, err)
			}
			key := stageLogKey(api, st)
			custom = append(custom, key)
			sel := celFilter(fmt.Sprintf(`xds.route_metadata.filter_metadata['%s']['%s'] == '%s'`, MetadataNamespace, AccessLogMetadataKey, key))
			for _, proc := range []bool{true, false} {
				text := stageTextFormat(parts, api, st, proc)
				l, err := accessLog(sink, "stage "+key, andFilter(sel, variantFilter(proc)), &corev3.SubstitutionFormatString{
					Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{
						Specifier: &corev3.DataSource_InlineString{InlineString: text + "\n"}}},
				})
				if err != nil {
					return nil, err
				}
				out = append(out, l)
			}
		}
	}
	var rest *accesslogv3.AccessLogFilter
	if len(custom) > 0 {
		// Not a route of a stage with its own format (the || short-circuits before the lookup that would fail
		// on a route without proxyplus metadata), or no route at all.
		rest = &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{Filters: []*accesslogv3.AccessLogFilter{
			celFilter(fmt.Sprintf(`!('%[1]s' in xds.route_metadata.filter_metadata) || !('%[2]s' in xds.route_metadata.filter_metadata['%[1]s'])`,
				MetadataNamespace, AccessLogMetadataKey)),
			responseFlags("NR", "DPE"),
		}}}}
	}
	for _, proc := range []bool{true, false} {
		f := variantFilter(proc)
		if rest != nil {
			f = andFilter(rest, f)
		}
		l, err := accessLog(sink, "default", f, &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: defaultJSONFormat(proc)},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func stageLogKey(api ir.API, st ir.Stage) string { return api.ID + "/" + st.Name }

// markAccessLogStage puts the stage's access-log key in the route's metadata when the stage has its own format;
// other routes are left as they are (their requests are logged in the default format).
func markAccessLogStage(route *routev3.Route, api ir.API, st ir.Stage) {
	if st.AccessLog == nil || st.AccessLog.Format == "" {
		return
	}
	if route.Metadata == nil {
		route.Metadata = &corev3.Metadata{}
	}
	if route.Metadata.FilterMetadata == nil {
		route.Metadata.FilterMetadata = map[string]*structpb.Struct{}
	}
	ns := route.Metadata.FilterMetadata[MetadataNamespace]
	if ns == nil {
		ns = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		route.Metadata.FilterMetadata[MetadataNamespace] = ns
	}
	ns.Fields[AccessLogMetadataKey] = structpb.NewStringValue(stageLogKey(api, st))
}

func variantFilter(proc bool) *accesslogv3.AccessLogFilter {
	if proc {
		return fromProcessor()
	}
	return notFromProcessor()
}

// CELFilterName is the access-log extension filter evaluating a CEL expression
// (source/extensions/access_loggers/filters/cel).
const CELFilterName = "envoy.access_loggers.extension_filters.cel"

func celFilter(expr string) *accesslogv3.AccessLogFilter {
	a, err := anypb.New(&celv3.ExpressionFilter{Expression: expr})
	if err != nil {
		panic(err) // a fixed message type: cannot fail
	}
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{ExtensionFilter: &accesslogv3.ExtensionFilter{
		Name: CELFilterName, ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: a}}}}
}

// Access logger extension names.
const (
	StdoutAccessLogName = "envoy.access_loggers.stdout"
	FileAccessLogName   = "envoy.access_loggers.file"
	OTelAccessLogName   = "envoy.access_loggers.open_telemetry"
	GRPCAccessLogName   = "envoy.access_loggers.http_grpc"
)

// accessLog is one access logger writing format to sink. For OpenTelemetry a text format is the log record's
// body and a JSON format its attributes; Envoy's gRPC access-log service sends structured entries (dynamic
// metadata included), to which no format applies.
func accessLog(sink ir.AccessLogSink, name string, filter *accesslogv3.AccessLogFilter, format *corev3.SubstitutionFormatString) (*accesslogv3.AccessLog, error) {
	var cfg proto.Message
	var ext string
	switch sink.Kind {
	case "", ir.AccessLogStdout:
		ext, cfg = StdoutAccessLogName, &streamv3.StdoutAccessLog{AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: format}}
	case ir.AccessLogFile:
		if sink.Path == "" {
			return nil, fmt.Errorf("access log sink file: no path")
		}
		ext, cfg = FileAccessLogName, &filev3.FileAccessLog{Path: sink.Path, AccessLogFormat: &filev3.FileAccessLog_LogFormat{LogFormat: format}}
	case ir.AccessLogOTel, ir.AccessLogGRPC:
		if sink.Cluster == "" {
			return nil, fmt.Errorf("access log sink %s: no cluster", sink.Kind)
		}
		common := &grpcalsv3.CommonGrpcAccessLogConfig{
			LogName:             "proxyplus " + name,
			GrpcService:         &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: sink.Cluster}}},
			TransportApiVersion: corev3.ApiVersion_V3,
		}
		if sink.Kind == ir.AccessLogGRPC {
			ext, cfg = GRPCAccessLogName, &grpcalsv3.HttpGrpcAccessLogConfig{CommonConfig: common}
			break
		}
		o := &otelalsv3.OpenTelemetryAccessLogConfig{CommonConfig: common}
		if t := format.GetTextFormatSource().GetInlineString(); t != "" {
			o.Body = &otlpcommonv1.AnyValue{Value: &otlpcommonv1.AnyValue_StringValue{StringValue: strings.TrimSuffix(t, "\n")}}
		} else {
			kv := &otlpcommonv1.KeyValueList{}
			for _, k := range sortedKeys(format.GetJsonFormat()) {
				kv.Values = append(kv.Values, &otlpcommonv1.KeyValue{Key: k, Value: &otlpcommonv1.AnyValue{
					Value: &otlpcommonv1.AnyValue_StringValue{StringValue: format.GetJsonFormat().GetFields()[k].GetStringValue()}}})
			}
			o.Attributes = kv
		}
		ext, cfg = OTelAccessLogName, o
	default:
		return nil, fmt.Errorf("access log sink %q: want stdout, file, otel, grpc or off", sink.Kind)
	}
	// Deterministic: a json_format is a Struct (a map), and the snapshot's version is a hash of the bytes.
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, cfg, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("access log %s: %w", name, err)
	}
	return &accesslogv3.AccessLog{Name: ext, Filter: filter, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: a}}, nil
}

func sortedKeys(s *structpb.Struct) []string {
	var ks []string
	for k := range s.GetFields() {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// stageTextFormat is a stage's format with its $context variables replaced by command operators and the rest
// kept as literal text ("%" doubled, SubstitutionFormatParser's escape).
func stageTextFormat(parts []ir.AccessLogPart, api ir.API, st ir.Stage, proc bool) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Variable == "" {
			b.WriteString(strings.ReplaceAll(p.Literal, "%", "%%"))
			continue
		}
		b.WriteString(contextOperator(p.Variable, &api, &st, proc))
	}
	return b.String()
}

func defaultJSONFormat(proc bool) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, f := range DefaultAccessLogFormat {
		if op := contextOperator(f.Variable, nil, nil, proc); op != "-" { // nothing to say: no key
			s.Fields[f.Key] = structpb.NewStringValue(op)
		}
	}
	return s
}

func dm(key string) string { return "%DYNAMIC_METADATA(" + MetadataNamespace + ":" + key + ")%" }

// contextOperator is the Envoy operator (or literal) standing for $context.<v>. api and st are nil in the
// default format, which serves every stage; proc selects the processor's variant.
func contextOperator(v string, api *ir.API, st *ir.Stage, proc bool) string {
	if k, ok := strings.CutPrefix(v, "authorizer."); ok {
		// The authorizer's context, as the processor hands it over (a struct under "authorizer").
		return "%DYNAMIC_METADATA(" + MetadataNamespace + ":authorizer:" + k + ")%"
	}
	switch v {
	case "requestId":
		if proc {
			return dm("requestId")
		}
		return "%RESP(X-AMZN-REQUESTID)%"
	case "extendedRequestId":
		if proc {
			return dm("extendedRequestId")
		}
		return "%RESP(X-AMZ-APIGW-ID)%"
	case "requestTime":
		// CLF time, e.g. 06/Dec/2026:23:06:17 +0000 (AWS's $context.requestTime).
		return "%START_TIME(%d/%b/%Y:%H:%M:%S +0000)%"
	case "requestTimeEpoch":
		return "%START_TIME(%s%3f)%"
	case "httpMethod":
		return "%REQ(:METHOD)%"
	case "resourcePath":
		return "%METADATA(ROUTE:" + MetadataNamespace + ":resource)%"
	case "path":
		return "%REQ(:PATH)%"
	case "protocol":
		return "%PROTOCOL%"
	case "status":
		return "%RESPONSE_CODE%"
	case "responseLength":
		return "%BYTES_SENT%"
	case "responseLatency":
		return "%DURATION%"
	case "integrationLatency", "integration.latency":
		if proc {
			return dm("integrationLatency")
		}
		return "%RESPONSE_DURATION%"
	case "integrationStatus":
		if proc {
			return dm("integrationStatus")
		}
		return "-"
	case "integration.status":
		if proc {
			return dm("integration.status")
		}
		return "-"
	case "identity.sourceIp":
		return "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
	case "identity.userAgent":
		return "%REQ(USER-AGENT)%"
	case "domainName":
		return "%REQ(:AUTHORITY)%"
	case "error.message":
		if proc {
			return dm("error.message")
		}
		return "-"
	case "error.responseType":
		if proc {
			return dm("error.responseType")
		}
		return "-"
	case "xrayTraceId":
		if proc {
			return dm("xrayTraceId")
		}
		return "%TRACE_ID%"
	case "stage":
		if st != nil {
			return strings.ReplaceAll(st.Name, "%", "%%")
		}
	case "apiId":
		if api != nil {
			return api.ID
		}
	case "deploymentId":
		if st != nil {
			return strings.ReplaceAll(st.DeploymentID, "%", "%%")
		}
	}
	return "-"
}

// XRayTracerName is Envoy's X-Ray tracer (source/extensions/tracers/xray).
const XRayTracerName = "envoy.tracers.xray"

// neverSampled is an X-Ray localized sampling manifest that samples nothing (localized_sampling.cc: fixed_target
// and rate must be numbers ≥ 0): Envoy sends no segment to the daemon unless a client's header says Sampled=1.
const neverSampled = `{"version": 2, "default": {"fixed_target": 0, "rate": 0}}`

// xrayTracing starts or continues an X-Ray trace for every request at the edge. The X-Ray driver makes a span for
// every request, sampled or not, continuing a client's X-Amzn-Trace-Id (Driver::startSpan,
// source/extensions/tracers/xray/xray_tracer_impl.cc: "Instead of returning nullptr, we return a Span that is
// marked as not-sampled"), and the router injects x-amzn-trace-id: Root=…;Parent=…;Sampled=… into every upstream
// request (upstream_request.cc UpstreamRequest::acceptHeadersFromRouter → Span::injectContext, tracer.cc), so
// HTTP_PROXY backends get it; on Lambda routes the ext_proc stream's initial metadata carries it
// (async_client_impl.cc AsyncStreamImpl::initialize) and the processor continues it into the invocation
// (extproc edgeTrace). %TRACE_ID% logs its id. Main 1.37.0-dev 321a098d81. cfg.Tracing (serve --xray-daemon,
// --trace-sample-rate) samples a share of the requests and sends their segments to an X-Ray daemon.
func xrayTracing(cfg *ir.Config) (*hcmv3.HttpConnectionManager_Tracing, error) {
	daemon, port, manifest := "127.0.0.1", uint64(2000), neverSampled
	if t := cfg.Tracing; t != nil && t.Daemon != "" {
		host, p, err := net.SplitHostPort(t.Daemon)
		if err == nil {
			port, err = strconv.ParseUint(p, 10, 16)
		}
		if err != nil || host == "" {
			return nil, fmt.Errorf("x-ray daemon %q: want host:port", t.Daemon)
		}
		if t.SampleRate < 0 || t.SampleRate > 1 {
			return nil, fmt.Errorf("trace sample rate %v: want 0 to 1", t.SampleRate)
		}
		daemon = host
		manifest = fmt.Sprintf(`{"version": 2, "default": {"fixed_target": 0, "rate": %s}}`, strconv.FormatFloat(t.SampleRate, 'f', -1, 64))
	}
	x := &tracev3.XRayConfig{
		// Required, UDP, with a numeric port (config.cc XRayTracerFactory); nothing is sent to it while
		// nothing is sampled.
		DaemonEndpoint: &corev3.SocketAddress{Protocol: corev3.SocketAddress_UDP, Address: daemon,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}},
		SegmentName:          "proxyplus",
		SamplingRuleManifest: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: manifest}},
	}
	a, err := anypb.New(x)
	if err != nil {
		return nil, fmt.Errorf("x-ray tracer: %w", err)
	}
	return &hcmv3.HttpConnectionManager_Tracing{Provider: &tracev3.Tracing_Http{Name: XRayTracerName,
		ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: a}}}, nil
}

// observability is the HCM's access logs and edge tracing (the one hook in httpConnectionManager).
func observability(h *hcmv3.HttpConnectionManager, cfg *ir.Config) error {
	logs, err := accessLogs(cfg)
	if err != nil {
		return err
	}
	tr, err := xrayTracing(cfg)
	if err != nil {
		return err
	}
	h.AccessLog, h.Tracing = logs, tr
	return nil
}
