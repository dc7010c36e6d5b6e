package builder_test

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// AWS's example formats (API Gateway developer guide, "Set up CloudWatch logging for REST APIs": CLF, JSON, XML
// and CSV).
const (
	clfFormat  = `$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength $context.requestId $context.extendedRequestId`
	jsonFormat = `{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId","ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", "user":"$context.identity.user", "requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod", "resourcePath":"$context.resourcePath", "status":"$context.status", "protocol":"$context.protocol", "responseLength":"$context.responseLength", "integrationLatency":"$context.integrationLatency", "errorMessage":"$context.error.message", "xrayTraceId":"$context.xrayTraceId" }`
	xmlFormat  = `<request id="$context.requestId"> <extendedRequestId>$context.extendedRequestId</extendedRequestId> <ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> <user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> <protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> </request>`
	csvFormat  = `$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId,$context.stage,$context.apiId`
)

// logAPI is one stage "prod" with the format (or none) and a Lambda route GET /items/{id}; a second stage "dev"
// has no format.
func logAPI(format string) *apigatewayv1.RestApi {
	m := &apigatewayv1.Method{HttpMethod: "GET", Integration: &apigatewayv1.Integration{Type: "AWS_PROXY", HttpMethod: "POST",
		Uri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:items/invocations"}}
	prod := &apigatewayv1.Stage{StageName: "prod"}
	if format != "" {
		prod.AccessLogSettings = &apigatewayv1.AccessLogSettings{Format: format}
	}
	return &apigatewayv1.RestApi{Id: "logapi0001", Name: "logs", Stages: []*apigatewayv1.Stage{prod, {StageName: "dev"}},
		Resources: []*apigatewayv1.Resource{{Id: "res001", Path: "/items/{id}", ResourceMethods: map[string]*apigatewayv1.Method{"GET": m}}}}
}

type logged struct {
	lines  []string
	resp   *evaluator.Response
	meta   map[string]any // the processor's metadata; nil for Envoy's own answers
	traced string         // the trace header the invocation got
	event  string         // the event's X-Amzn-Trace-Id
}

// logRequest runs a GET through the generated configuration — the evaluator for Envoy, the processor for a
// Lambda route — and returns the access-log lines Envoy writes for it.
func logRequest(t *testing.T, format, path string, hdrs ...[2]string) *logged {
	t.Helper()
	keys := testutil.RouteKeys(t)
	api := logAPI(format)
	cfg, diags := translator.Translate([]translator.Input{{File: "logs.yaml", API: api, Stages: api.Stages}}, translator.Options{RouteKeys: keys})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Validate(); err != nil {
		t.Fatalf("generated access-log configuration: %v", err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	req := &evaluator.Request{Method: "GET", Path: path, Authority: "logapi0001.execute-api.us-east-1.amazonaws.com",
		RemoteAddr: "203.0.113.9:4000", LocalAddr: "127.0.0.1:8080", Headers: append([][2]string{{"user-agent", "curl/8.5.0"}}, hdrs...)}
	sel, err := ev.Select(req)
	if err != nil {
		t.Fatal(err)
	}
	out := &logged{}
	start := time.Date(2026, 12, 6, 23, 6, 17, 135e6, time.UTC)
	info := evaluator.LogInfo{Start: start, Duration: 42 * time.Millisecond, TraceID: "1-6934b2d9-000000000000000000000001"}
	if sel.ExtProc == nil {
		oc, err := ev.Forward(sel, req)
		if err != nil {
			t.Fatal(err)
		}
		out.resp = oc.Response
	} else {
		pr := processorRoute(t, sel, keys)
		view, err := ev.ProcessorView(sel, req)
		if err != nil {
			t.Fatal(err)
		}
		ip, _, _ := net.SplitHostPort(view.TrustedAddress)
		lam := &extproc.Lambda{AccountID: "123456789012", Now: func() time.Time { return start },
			Invoker: lambdainvoke.Func(func(ctx context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
				out.traced = lambdainvoke.TraceHeader(ctx)
				var ev struct {
					Headers map[string]string `json:"headers"`
				}
				_ = json.Unmarshal(payload, &ev)
				out.event = ev.Headers["X-Amzn-Trace-Id"]
				return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
			})}
		x := lam.Serve(context.Background(), pr, extproc.LambdaRequest(extproc.NewRequestHeaders(view.Headers), view.Body, ip, ""))
		ans, err := extproc.Answer(x)
		if err != nil {
			t.Fatal(err)
		}
		if out.resp, err = ev.ImmediateResponse(sel, req, ans); err != nil {
			t.Fatal(err)
		}
		info.Metadata = ev.ExtProcDynamicMetadata(sel, ans.GetDynamicMetadata())
		out.meta = info.Metadata[extproc.ProcessorNamespace].AsMap()
	}
	if out.lines, err = ev.AccessLog(sel, req, out.resp, info); err != nil {
		t.Fatal(err)
	}
	if len(out.lines) != 1 {
		t.Fatalf("%d access-log lines, want exactly one: %q", len(out.lines), out.lines)
	}
	return out
}

func processorRoute(t *testing.T, sel *evaluator.Selection, keys ir.RouteKeys) *ir.ProcessorRoute {
	t.Helper()
	for _, kv := range sel.ExtProc.GRPCInitialMetadata {
		if kv[0] == ir.RouteMetadataKey {
			pr, err := ir.DecodeProcessorRoute(kv[1], keys)
			if err != nil {
				t.Fatal(err)
			}
			return pr
		}
	}
	t.Fatal("no route data")
	return nil
}

// TestAccessLogFormats: a Lambda request and one Envoy answers itself (403 Missing Authentication Token) produce,
// in each of AWS's four example formats, the line API Gateway writes; a stage without a format logs the default
// JSON.
func TestAccessLogFormats(t *testing.T) {
	const clientTrace = "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=53995c3f42cd8ad8;Sampled=0"
	trace := [2]string{"x-amzn-trace-id", clientTrace}
	for _, tc := range []struct {
		name, format, path string
		want               string // with {id} and {ext} for the request ids
	}{
		{"clf lambda", clfFormat, "/prod/items/42", `203.0.113.9 - - [06/Dec/2026:23:06:17 +0000] "GET /items/{id} HTTP/1.1" 200 2 {id} {ext}` + "\n"},
		{"clf envoy 403", clfFormat, "/prod/nothing", `203.0.113.9 - - [06/Dec/2026:23:06:17 +0000] "GET - HTTP/1.1" 403 42 {id} {ext}` + "\n"},
		{"json lambda", jsonFormat, "/prod/items/42", `{ "requestId":"{id}", "extendedRequestId":"{ext}","ip": "203.0.113.9", "caller":"-", "user":"-", "requestTime":"06/Dec/2026:23:06:17 +0000", "httpMethod":"GET", "resourcePath":"/items/{id}", "status":"200", "protocol":"HTTP/1.1", "responseLength":"2", "integrationLatency":"{lat}", "errorMessage":"-", "xrayTraceId":"1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e" }` + "\n"},
		{"xml lambda", xmlFormat, "/prod/items/42", `<request id="{id}"> <extendedRequestId>{ext}</extendedRequestId> <ip>203.0.113.9</ip> <caller>-</caller> <user>-</user> <requestTime>06/Dec/2026:23:06:17 +0000</requestTime> <httpMethod>GET</httpMethod> <resourcePath>/items/{id}</resourcePath> <status>200</status> <protocol>HTTP/1.1</protocol> <responseLength>2</responseLength> </request>` + "\n"},
		{"csv lambda", csvFormat, "/prod/items/42", `203.0.113.9,-,-,06/Dec/2026:23:06:17 +0000,GET,/items/{id},HTTP/1.1,200,2,{id},{ext},prod,logapi0001` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := logRequest(t, tc.format, tc.path, trace)
			id := got.resp.Header("x-amzn-requestid")
			ext := got.resp.Header("x-amz-apigw-id")
			if len(id) != 1 || len(ext) != 1 {
				t.Fatalf("response ids %v %v", id, ext)
			}
			lat := "-"
			if got.meta != nil {
				if got.meta[extproc.MetaRequestID] != id[0] {
					t.Errorf("metadata requestId %v, response %s", got.meta[extproc.MetaRequestID], id[0])
				}
				lat = strings.TrimSuffix(strings.TrimSuffix(jsonNum(got.meta[extproc.MetaIntegrationLatency]), ".0"), "")
			}
			want := strings.NewReplacer("{id}", id[0], "{ext}", ext[0], "{lat}", lat).Replace(tc.want)
			// resourcePath is the literal "/items/{id}": replace the placeholders only in the ids above.
			want = strings.ReplaceAll(want, "/items/"+id[0], "/items/{id}")
			if got.lines[0] != want {
				t.Errorf("access log\n got %q\nwant %q", got.lines[0], want)
			}
		})
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAccessLogDefaultAndTrace: a stage without a format logs the default JSON; the client's trace id is the same
// in the access log, the invocation, the event and the response header.
func TestAccessLogDefaultAndTrace(t *testing.T) {
	const clientTrace = "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=53995c3f42cd8ad8;Sampled=0"
	got := logRequest(t, clfFormat, "/dev/items/7", [2]string{"x-amzn-trace-id", clientTrace})
	var line map[string]any
	if err := json.Unmarshal([]byte(got.lines[0]), &line); err != nil {
		t.Fatalf("default line %q: %v", got.lines[0], err)
	}
	resp := got.resp.Header("x-amzn-trace-id")
	if len(resp) != 1 || resp[0] != clientTrace || got.traced != clientTrace || got.event != clientTrace {
		t.Errorf("trace: response %v, invocation %q, event %q; want %q", resp, got.traced, got.event, clientTrace)
	}
	if line["xrayTraceId"] != "1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e" || line["requestId"] != got.resp.Header("x-amzn-requestid")[0] ||
		line["status"] != 200.0 || line["resourcePath"] != "/items/{id}" || line["integrationStatus"] != 200.0 || line["functionStatus"] != 200.0 ||
		line["requestTimeEpoch"] != "1796598377135" || line["path"] != "/dev/items/7" {
		t.Errorf("default line %s", got.lines[0])
	}
	// Envoy's own answer (a Host-less stage: 403 Forbidden) in the default format, with its own request id.
	got = logRequest(t, "", "/nostage/x")
	if err := json.Unmarshal([]byte(got.lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["status"] != 403.0 || line["requestId"] != got.resp.Header("x-amzn-requestid")[0] || line["xrayTraceId"] != "1-6934b2d9-000000000000000000000001" {
		t.Errorf("default line for Envoy's 403: %s", got.lines[0])
	}
}

// TestAccessLogFormatRefused: an unknown variable or a format without a request id is refused at translation,
// naming the stage and the field.
func TestAccessLogFormatRefused(t *testing.T) {
	for _, f := range []string{`$context.requestId $context.nope`, `$context.status`} {
		api := logAPI(f)
		_, diags := translator.Translate([]translator.Input{{File: "logs.yaml", API: api, Stages: api.Stages}}, translator.Options{RouteKeys: testutil.RouteKeys(t)})
		err := diags.Err()
		if err == nil || !strings.Contains(err.Error(), "accessLogSettings.format") || !strings.Contains(err.Error(), `"prod"`) {
			t.Errorf("format %q: %v", f, err)
		}
	}
}

// TestEdgeTraceHTTPProxy: with the X-Ray tracer at the edge, an HTTP_PROXY backend gets X-Amzn-Trace-Id — the
// client's Root continued with Envoy's span as Parent, or a new trace.
func TestEdgeTraceHTTPProxy(t *testing.T) {
	api := &apigatewayv1.RestApi{Id: "httpapi001", Name: "http", Stages: []*apigatewayv1.Stage{{StageName: "prod"}},
		Resources: []*apigatewayv1.Resource{{Id: "res001", Path: "/pets", ResourceMethods: map[string]*apigatewayv1.Method{"GET": {HttpMethod: "GET",
			Integration: &apigatewayv1.Integration{Type: "HTTP_PROXY", HttpMethod: "GET", Uri: "http://backend.internal:8080/pets"}}}}}}
	cfg, diags := translator.Translate([]translator.Input{{File: "http.yaml", API: api, Stages: api.Stages}}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ client, want string }{
		{"Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=53995c3f42cd8ad8;Sampled=1", `^Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=[0-9a-f]{16};Sampled=1$`},
		{"", `^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`},
	} {
		req := &evaluator.Request{Method: "GET", Path: "/prod/pets", Authority: "httpapi001.execute-api.us-east-1.amazonaws.com",
			RemoteAddr: "203.0.113.9:4000", LocalAddr: "127.0.0.1:8080"}
		if tc.client != "" {
			req.Headers = [][2]string{{"x-amzn-trace-id", tc.client}}
		}
		sel, err := ev.Select(req)
		if err != nil {
			t.Fatal(err)
		}
		oc, err := ev.Forward(sel, req)
		if err != nil || oc.Upstream == nil {
			t.Fatalf("forward: %v %v", oc, err)
		}
		got := oc.Upstream.Header("x-amzn-trace-id")
		if len(got) != 1 || !regexp.MustCompile(tc.want).MatchString(got[0]) {
			t.Fatalf("client %q: upstream X-Amzn-Trace-Id %v, want %s", tc.client, got, tc.want)
		}
		// The access log shows the backend's trace id and the path the backend got.
		resp, err := ev.Respond(sel, req, &evaluator.UpstreamResponse{Status: 200, Body: []byte("ok")})
		if err != nil {
			t.Fatal(err)
		}
		lines, err := ev.AccessLog(sel, req, resp, evaluator.LogInfo{Start: time.Unix(1_765_062_377, 0), Upstream: oc.Upstream})
		if err != nil || len(lines) != 1 {
			t.Fatalf("access log %q %v", lines, err)
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
			t.Fatal(err)
		}
		root := strings.TrimPrefix(strings.Split(got[0], ";")[0], "Root=")
		if line["xrayTraceId"] != root || line["path"] != oc.Upstream.Path || line["status"] != 200.0 || line["requestId"] != resp.Header("x-amzn-requestid")[0] {
			t.Errorf("access log %s; trace %s, upstream path %s", lines[0], root, oc.Upstream.Path)
		}
	}
}

// TestAccessLogSinks: every sink the command line names builds a configuration Envoy's validation accepts.
func TestAccessLogSinks(t *testing.T) {
	for _, s := range []string{"stdout", "file:/var/log/envoy/access.log", "otel:otel-collector", "grpc:als", "off"} {
		sink, err := ir.ParseAccessLogSink(s)
		if err != nil {
			t.Fatal(err)
		}
		api := logAPI(csvFormat)
		cfg, diags := translator.Translate([]translator.Input{{File: "logs.yaml", API: api, Stages: api.Stages}},
			translator.Options{RouteKeys: testutil.RouteKeys(t), AccessLog: sink})
		if err := diags.Err(); err != nil {
			t.Fatal(err)
		}
		res, err := builder.Build(cfg)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := res.Validate(); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		if err := res.ValidateNested(); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		hcm, err := res.HTTPConnectionManager()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"off": 0}[s]; s == "off" && len(hcm.GetAccessLog()) != want || s != "off" && len(hcm.GetAccessLog()) != 4 {
			t.Errorf("%s: %d access loggers", s, len(hcm.GetAccessLog()))
		}
	}
	for _, bad := range []string{"file:", "otel", "syslog"} {
		if _, err := ir.ParseAccessLogSink(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestAccessLogEnvoyTimeout: when the processor never answers, Envoy's stream idle timeout answers 504 (mapped to
// API Gateway's timeout); the stage's format logs it like any other request, with the request id the client got.
func TestAccessLogEnvoyTimeout(t *testing.T) {
	api := logAPI(csvFormat)
	cfg, diags := translator.Translate([]translator.Input{{File: "logs.yaml", API: api, Stages: api.Stages}}, translator.Options{RouteKeys: testutil.RouteKeys(t)})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	req := &evaluator.Request{Method: "GET", Path: "/prod/items/42", Authority: "logapi0001.execute-api.us-east-1.amazonaws.com",
		RemoteAddr: "203.0.113.9:4000", LocalAddr: "127.0.0.1:8080"}
	sel, err := ev.Select(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ev.LocalReply(sel, req, 504, "", "SI", "stream_idle_timeout")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := ev.AccessLog(sel, req, resp, evaluator.LogInfo{Start: time.Date(2026, 12, 6, 23, 6, 17, 0, time.UTC), Flags: "SI"})
	if err != nil || len(lines) != 1 {
		t.Fatalf("%q %v", lines, err)
	}
	id, ext := resp.Header("x-amzn-requestid"), resp.Header("x-amz-apigw-id")
	if len(id) != 1 || len(ext) != 1 {
		t.Fatalf("response headers %v", resp.Headers)
	}
	want := "203.0.113.9,-,-,06/Dec/2026:23:06:17 +0000,GET,/items/{id},HTTP/1.1,504," + strconv.Itoa(len(resp.Body)) + "," + id[0] + "," + ext[0] + ",prod,logapi0001\n"
	if lines[0] != want {
		t.Errorf("access log\n got %q\nwant %q", lines[0], want)
	}
}

// TestXRayExport: with a daemon the sampling manifest samples the given share; bad settings are refused.
func TestXRayExport(t *testing.T) {
	api := logAPI("")
	cfg, diags := translator.Translate([]translator.Input{{File: "logs.yaml", API: api, Stages: api.Stages}},
		translator.Options{RouteKeys: testutil.RouteKeys(t), Tracing: &ir.TracingSettings{Daemon: "xray.internal:2000", SampleRate: 0.1}})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.ValidateNested(); err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	x := &tracev3.XRayConfig{}
	if err := hcm.GetTracing().GetProvider().GetTypedConfig().UnmarshalTo(x); err != nil {
		t.Fatal(err)
	}
	if x.GetDaemonEndpoint().GetAddress() != "xray.internal" || x.GetDaemonEndpoint().GetPortValue() != 2000 ||
		x.GetSamplingRuleManifest().GetInlineString() != `{"version": 2, "default": {"fixed_target": 0, "rate": 0.1}}` {
		t.Errorf("x-ray config %v", x)
	}
	for _, bad := range []*ir.TracingSettings{{Daemon: "nohost"}, {Daemon: "h:1", SampleRate: 2}} {
		cfg.Tracing = bad
		if _, err := builder.Build(cfg); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
