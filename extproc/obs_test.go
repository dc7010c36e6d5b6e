package extproc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// tracedExchange sends one GET with the extra client headers kv (and ctx's outgoing metadata) and returns the
// trace header the invoker saw on its context, the event's X-Amzn-Trace-Id, the response header and the
// answer's proxyplus metadata.
func tracedExchange(t *testing.T, ctx context.Context, kv ...string) (invoked, event, response string, meta map[string]any) {
	t.Helper()
	client := startLambdaProcessor(t, func(ctx context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		invoked = lambdainvoke.TraceHeader(ctx)
		var ev struct {
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Error(err)
		}
		event = ev.Headers["X-Amzn-Trace-Id"]
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":201,"body":"ok"}`)}, nil
	})
	stream := openStream(t, client, ctx, lambdaRoute(t, 5*time.Second))
	req := lambdaHeaders("GET", true)
	hs := headers(kv...).GetRequestHeaders().GetHeaders().GetHeaders()
	req.GetRequestHeaders().Headers.Headers = append(req.GetRequestHeaders().Headers.Headers, hs...)
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// Decoded as Envoy decodes it: the answer's two dynamic_metadata fields merge, the later "proxyplus" wins.
	b, _ := proto.Marshal(resp)
	var dec extprocsvcv3.ProcessingResponse
	if err := proto.Unmarshal(b, &dec); err != nil {
		t.Fatal(err)
	}
	for _, h := range dec.GetImmediateResponse().GetHeaders().GetSetHeaders() {
		if h.GetHeader().GetKey() == "x-amzn-trace-id" {
			response = string(h.GetHeader().GetRawValue())
		}
	}
	meta = dec.GetDynamicMetadata().GetFields()[extproc.ProcessorNamespace].GetStructValue().AsMap()
	return invoked, event, response, meta
}

// A trace the client starts (X-Amzn-Trace-Id or W3C traceparent), or the one Envoy's X-Ray tracer started at the
// edge (the stream's x-amzn-trace-id metadata), is the same in the invocation, the event, the response header and
// the access log's metadata.
func TestTraceContinues(t *testing.T) {
	const edge = "Root=1-67c75145-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=1111111111111111;Sampled=0"
	tests := []struct {
		name string
		ctx  context.Context
		kv   []string
		want string
	}{
		{"client header", context.Background(), []string{"x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
			"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
		{"traceparent", context.Background(), []string{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"},
		{"edge", metadata.AppendToOutgoingContext(context.Background(), "x-amzn-trace-id", edge), nil, edge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invoked, event, response, meta := tracedExchange(t, tt.ctx, tt.kv...)
			if invoked != tt.want || event != tt.want || response != tt.want || meta[extproc.MetaTraceID] != tt.want {
				t.Errorf("invoke %q, event %q, response %q, metadata %q; want %q", invoked, event, response, meta[extproc.MetaTraceID], tt.want)
			}
			if root := strings.TrimPrefix(strings.Split(tt.want, ";")[0], "Root="); meta[extproc.MetaXRayTraceID] != root {
				t.Errorf("xrayTraceId %v, want %s", meta[extproc.MetaXRayTraceID], root)
			}
			if meta["processor"] != true || meta[extproc.MetaIntegrationStatus] != 200.0 || meta[extproc.MetaFunctionStatus] != 201.0 {
				t.Errorf("metadata %v", meta)
			}
			if _, ok := meta[extproc.MetaIntegrationLatency].(float64); !ok {
				t.Errorf("integrationLatency missing: %v", meta)
			}
			if id, _ := meta[extproc.MetaRequestID].(string); len(id) != 36 {
				t.Errorf("requestId %q", id)
			}
		})
	}
}

// TestMetricsScrape: after a few invocations — two that succeed, one throttled, one function error — /metrics
// shows the per-function counters, the error classes and the latency histogram.
func TestMetricsScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	n := 0
	lam := &extproc.Lambda{AccountID: "123456789012", Metrics: extproc.NewMetrics(reg), Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		switch n {
		case 3:
			return nil, &lambdainvoke.InvokeError{Code: "TooManyRequestsException", StatusCode: 429, Class: lambdainvoke.ErrThrottled}
		case 4:
			return &lambdainvoke.Result{Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled"}, nil
		}
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
	})}
	client := startServer(t, lam)
	for range 4 {
		stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
		if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
			t.Fatal(err)
		}
		recvImmediate(t, stream)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const fn = `function="arn:aws:lambda:us-east-1:123456789012:function:items"`
	for _, want := range []string{
		`proxyplus_lambda_invocations_total{` + fn + `} 4`,
		`proxyplus_lambda_invocation_errors_total{class="throttled",` + fn + `} 1`,
		`proxyplus_lambda_invocation_errors_total{class="function",` + fn + `} 1`,
		`proxyplus_lambda_throttles_total{` + fn + `} 1`,
		`proxyplus_lambda_invocation_duration_seconds_count{` + fn + `} 4`,
		`proxyplus_lambda_invocation_duration_seconds_bucket{` + fn + `,le="30"} 4`,
		`proxyplus_extproc_responses_total{code_class="2xx",integration="AWS_PROXY"} 2`,
		`proxyplus_extproc_responses_total{code_class="5xx",integration="AWS_PROXY"} 2`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
