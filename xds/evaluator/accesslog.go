package evaluator

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The HCM's access logs and X-Ray tracing, as Envoy runs them (main 1.37.0-dev, 321a098d81):
//
//   - an access logger writes when its filter passes (AccessLog::FilterFactory, source/common/access_log/
//     access_log_impl.cc, plus the CEL extension filter of source/extensions/access_loggers/filters/cel, of which
//     the two expression shapes proxyplus generates are modelled: a route-metadata equality and its negated
//     presence test; an expression error — no route — counts as false);
//   - stdout and file loggers with a text (text_format_source) or json_format format; the line is what
//     Formatter::format renders: text as written with "-" for a missing value, JSON with sorted keys, typed values
//     and a newline (stream_info_formatter.cc, http_specific_formatter.cc, metadata formatter);
//   - the X-Ray tracer (source/extensions/tracers/xray): every request has a span continuing the client's
//     X-Amzn-Trace-Id Root (the header is lower-cased by parseXRayHeader) or a new trace id "1-<8 hex
//     epoch>-<24 hex>" (generateTraceId), and the router injects x-amzn-trace-id: Root=…;Parent=<span id>;
//     Sampled=<0|1> into the upstream request (Span::injectContext).
//
// %REQ()% reads the request headers as the evaluator decoded them, or, for a forwarded request, as the router
// rewrote them (LogInfo.Upstream).

type accessLogger struct {
	name   string
	filter lrFilter // nil: every request
	format *bodyFormat
}

const (
	typeStdoutLog = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	typeFileLog   = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
	typeCELFilter = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
	typeXRay      = "type.googleapis.com/envoy.config.trace.v3.XRayConfig"
)

func compileAccessLogs(m *hcmv3.HttpConnectionManager, h *hcmConfig, l loc) error {
	for i, a := range m.GetAccessLog() {
		al := l.at(fmt.Sprintf("access_log[%d]", i))
		lg := &accessLogger{name: a.GetName()}
		if a.GetFilter() != nil {
			f, err := compileALFilter(a.GetFilter(), al.at("filter"))
			if err != nil {
				return err
			}
			lg.filter = f
		}
		tc := a.GetTypedConfig()
		var err error
		switch tc.GetTypeUrl() {
		case typeStdoutLog:
			c := &streamv3.StdoutAccessLog{}
			if err := tc.UnmarshalTo(c); err != nil {
				return al.errf("%v", err)
			}
			lg.format, err = compileFormat(c.GetLogFormat(), al.at("typed_config.log_format"), opsAccessLog)
		case typeFileLog:
			c := &filev3.FileAccessLog{}
			if err := tc.UnmarshalTo(c); err != nil {
				return al.errf("%v", err)
			}
			lg.format, err = compileFormat(c.GetLogFormat(), al.at("typed_config.log_format"), opsAccessLog)
		default:
			// Other sinks (gRPC, OpenTelemetry) send the same values elsewhere; what they write is not modelled.
			continue
		}
		if err != nil {
			return err
		}
		if lg.format == nil {
			return al.errf("no log_format: Envoy's default format is not modelled")
		}
		h.accessLogs = append(h.accessLogs, lg)
	}
	if t := m.GetTracing(); t != nil {
		tl := l.at("tracing")
		if err := onlyFields(t, tl, "provider"); err != nil {
			return err
		}
		if t.GetProvider().GetTypedConfig().GetTypeUrl() != typeXRay {
			return tl.at("provider").errf("only the X-Ray tracer is modelled")
		}
		x := &tracev3.XRayConfig{}
		if err := t.GetProvider().GetTypedConfig().UnmarshalTo(x); err != nil {
			return tl.errf("%v", err)
		}
		if err := x.ValidateAll(); err != nil {
			return tl.errf("Envoy rejects this configuration: %v", err)
		}
		h.xray = true
	}
	return nil
}

var (
	celRouteMetaEq     = regexp.MustCompile(`^xds\.route_metadata\.filter_metadata\['([^']+)'\]\['([^']+)'\] == '([^']*)'$`)
	celRouteMetaAbsent = regexp.MustCompile(`^!\('([^']+)' in xds\.route_metadata\.filter_metadata\) \|\| !\('([^']+)' in xds\.route_metadata\.filter_metadata\['([^']+)'\]\)$`)
)

// compileCELFilter models the CEL expressions proxyplus generates; any other is refused.
func compileCELFilter(x *accesslogv3.ExtensionFilter, l loc) (lrFilter, error) {
	if x.GetTypedConfig().GetTypeUrl() != typeCELFilter {
		return nil, l.errf("extension filter %s is not modelled", x.GetTypedConfig().GetTypeUrl())
	}
	c := &celv3.ExpressionFilter{}
	if err := x.GetTypedConfig().UnmarshalTo(c); err != nil {
		return nil, l.errf("%v", err)
	}
	expr := c.GetExpression()
	if m := celRouteMetaEq.FindStringSubmatch(expr); m != nil && m[1] == metadataNS {
		key, want := m[2], m[3]
		return func(in *lrInput) bool {
			v, ok := in.route[key].(string)
			return in.hasRoute && ok && v == want
		}, nil
	}
	if m := celRouteMetaAbsent.FindStringSubmatch(expr); m != nil && m[1] == metadataNS && m[3] == metadataNS {
		key := m[2]
		return func(in *lrInput) bool {
			if !in.hasRoute {
				return false // xds.route_metadata is absent: an error, false
			}
			_, ok := in.route[key]
			return in.route == nil || !ok
		}, nil
	}
	return nil, l.errf("CEL expression %q is not modelled", expr)
}

// metadataNS is the only route-metadata namespace Selection.Metadata holds.
const metadataNS = "proxyplus"

// LogInfo is what Envoy's stream info holds when it logs that the evaluator does not compute.
type LogInfo struct {
	Start    time.Time
	Duration time.Duration
	// ResponseDuration is the time to the upstream's first byte; nil when there was no upstream.
	ResponseDuration *time.Duration
	Flags            string
	// Metadata is the request's dynamic metadata (for a processor answer: ExtProcDynamicMetadata).
	Metadata map[string]*structpb.Struct
	// TraceID is the X-Ray span's trace id when the request had no X-Amzn-Trace-Id to continue.
	TraceID  string
	Protocol string // "HTTP/1.1" when empty
	// Upstream is the request Forward sent to the backend, when the route forwarded: Envoy's router rewrote the
	// request's own headers (path, host, the injected X-Amzn-Trace-Id), and the access log reads those.
	Upstream *UpstreamRequest
}

// AccessLog is the lines Envoy's access loggers write for req, answered with resp on the route of sel, each
// with its trailing newline, in the order of the HCM's access_log list.
func (e *Evaluator) AccessLog(sel *Selection, req *Request, resp *Response, info LogInfo) ([]string, error) {
	d, err := e.rawDecode(req)
	if err != nil {
		return nil, err
	}
	if err := e.mutateRequestHeaders(d, req); err != nil {
		return nil, err
	}
	if up := info.Upstream; up != nil {
		// RouteEntryImplBase::finalizeRequestHeaders rewrites the downstream header map in place (config_impl.cc),
		// and Span::injectContext writes into it (upstream_request.cc): %REQ()% sees what the backend got.
		h := newRequestMap()
		h.add(":method", up.Method)
		h.add(":path", up.Path)
		h.add(":authority", up.Authority)
		for _, kv := range up.Headers {
			if kv[0] != "host" {
				h.add(kv[0], kv[1])
			}
		}
		d.h = h
	}
	fl, err := parseFlags(info.Flags)
	if err != nil {
		return nil, err
	}
	in := &lrInput{req: d.h, code: resp.Status, flags: fl, meta: info.Metadata}
	if sel != nil && sel.Route != nil {
		in.hasRoute, in.route = true, sel.Metadata
	}
	rh := newResponseMap()
	for _, h := range resp.Headers {
		rh.add(h[0], h[1])
	}
	proto := info.Protocol
	if proto == "" {
		proto = "HTTP/1.1"
	}
	trace := info.TraceID
	if root := xrayRoot(d.h); root != "" {
		trace = root
	}
	c := &fmtCtx{req: d.h, resp: rh, uuid: e.uuid, remoteAddr: d.trustedAddr, code: resp.Status, flags: normFlags(info.Flags),
		details: resp.Details, log: &logCtx{start: info.Start, duration: info.Duration, responseDuration: info.ResponseDuration,
			bytesSent: len(resp.Body), protocol: proto, dyn: info.Metadata, route: in.route, traceID: trace}}
	var lines []string
	for _, lg := range e.hcm.accessLogs {
		if lg.filter != nil && !lg.filter(in) {
			continue
		}
		line, err := lg.format.format(c)
		if err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// xrayRoot is the Root of the request's X-Amzn-Trace-Id as the X-Ray tracer reads it (parseXRayHeader lower-cases
// the whole header first); "" without one.
func xrayRoot(h *headerMap) string {
	v, ok := h.first("x-amzn-trace-id")
	if !ok {
		return ""
	}
	for _, part := range strings.Split(strings.ToLower(v), ";") {
		if r, ok := strings.CutPrefix(strings.TrimSpace(part), "root="); ok {
			return r
		}
	}
	return ""
}

// injectXRay is Span::injectContext on the upstream request: x-amzn-trace-id: Root=<trace>;Parent=<span
// id>;Sampled=<0|1> (Sampled=1 only when the client's header said so: nothing else is sampled with proxyplus's
// manifest).
func (e *Evaluator) injectXRay(h *headerMap) {
	v, _ := h.first("x-amzn-trace-id")
	root, sampled := xrayRoot(h), "0"
	if strings.Contains(strings.ToLower(v), "sampled=1") {
		sampled = "1"
	}
	if root == "" {
		u := strings.ReplaceAll(e.uuid(), "-", "")
		var sec [4]byte
		t := uint32(e.now().Unix())
		sec[0], sec[1], sec[2], sec[3] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
		root = "1-" + hex.EncodeToString(sec[:]) + "-" + u[:24]
	}
	span := strings.ReplaceAll(e.uuid(), "-", "")[:16]
	h.set("x-amzn-trace-id", "Root="+root+";Parent="+span+";Sampled="+sampled)
}

// logCtx is the stream info an access log reads.
type logCtx struct {
	start            time.Time
	duration         time.Duration
	responseDuration *time.Duration
	bytesSent        int
	protocol         string
	dyn              map[string]*structpb.Struct
	route            map[string]any
	traceID          string
}

func parseAccessLogCommand(t fmtToken, args string, hasArgs bool) (fmtToken, error) {
	switch t.cmd {
	case "START_TIME":
		t.main = args
		return t, nil
	case "DYNAMIC_METADATA", "METADATA":
		if !hasArgs || args == "" {
			return t, fmt.Errorf("%%%s%% requires parameters", t.cmd)
		}
		t.main = args
		return t, nil
	}
	if hasArgs {
		return t, fmt.Errorf("%%%s%% takes no parameters", t.cmd)
	}
	return t, nil
}

// logValue evaluates the access-log operators; ok=false is a missing value.
func (t *fmtToken) logValue(c *fmtCtx) (any, bool, error) {
	lc := c.log
	switch t.cmd {
	case "START_TIME":
		if lc.start.IsZero() {
			return nil, false, nil
		}
		return strftime(t.main, lc.start), true, nil
	case "DURATION":
		return lc.duration.Milliseconds(), true, nil
	case "RESPONSE_DURATION":
		if lc.responseDuration == nil {
			return nil, false, nil
		}
		return lc.responseDuration.Milliseconds(), true, nil
	case "BYTES_SENT":
		return int64(lc.bytesSent), true, nil
	case "PROTOCOL":
		return lc.protocol, true, nil
	case "TRACE_ID":
		if lc.traceID == "" {
			return nil, false, nil
		}
		return lc.traceID, true, nil
	case "DYNAMIC_METADATA":
		path := strings.Split(t.main, ":")
		v := metadataValue(lc.dyn, path[0], path[1:])
		return metaAny(v)
	case "METADATA":
		path := strings.Split(t.main, ":")
		if len(path) < 3 || path[0] != "ROUTE" || path[1] != metadataNS {
			return nil, false, &notModelled{what: "%METADATA(" + t.main + ")%"}
		}
		var cur any = lc.route
		for _, k := range path[2:] {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false, nil
			}
			cur = m[k]
		}
		if cur == nil {
			return nil, false, nil
		}
		return cur, true, nil
	}
	return nil, false, fmt.Errorf("unknown command %q", t.cmd)
}

// metaAny is a metadata value as MetadataFormatter renders it: a string as is, a number as a number (JSON form in
// a text format), absent as missing.
func metaAny(v *structpb.Value) (any, bool, error) {
	if v == nil {
		return nil, false, nil
	}
	switch x := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return x.StringValue, true, nil
	case *structpb.Value_NumberValue:
		return jsonNumber(x.NumberValue), true, nil
	case *structpb.Value_BoolValue:
		return x.BoolValue, true, nil
	case *structpb.Value_NullValue:
		return nil, false, nil
	}
	return v.AsInterface(), true, nil
}

// jsonNumber prints as a JSON number does (fmt.Sprint of a float64 would write 1e+06).
type jsonNumber float64

func (n jsonNumber) String() string { return strconv.FormatFloat(float64(n), 'f', -1, 64) }

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n.String()), nil }

// strftime is SystemTimeFormatter's format (absl::FormatTime specifiers plus Envoy's %s and %<n>f), for the
// specifiers proxyplus uses: %d %b %Y %H %M %S %z %s %3f %%; no format is RFC 3339 with milliseconds
// (AccessLogDateTimeFormatter::fromTime).
func strftime(f string, t time.Time) string {
	t = t.UTC()
	if f == "" {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'd':
			b.WriteString(t.Format("02"))
		case 'b':
			b.WriteString(t.Format("Jan"))
		case 'Y':
			b.WriteString(t.Format("2006"))
		case 'H':
			b.WriteString(t.Format("15"))
		case 'M':
			b.WriteString(t.Format("04"))
		case 'S':
			b.WriteString(t.Format("05"))
		case 'z':
			b.WriteString("+0000")
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case '3':
			if i+1 < len(f) && f[i+1] == 'f' {
				i++
				fmt.Fprintf(&b, "%03d", t.Nanosecond()/1e6)
				continue
			}
			b.WriteString("%3")
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
