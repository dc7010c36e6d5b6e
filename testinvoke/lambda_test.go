package testinvoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
)

// lambdaInvoker is test-invoke over the IR of xds/builder's lambda-mock-errors golden (POST /v1/hello is an
// AWS_PROXY route), with fn as the function; over the wire (the ext_proc service on a unix socket, Envoy's message
// sequence for the generated configuration) or in-process.
func lambdaInvoker(t *testing.T, wire bool, fn lambdainvoke.Func) *testinvoke.Invoker {
	t.Helper()
	raw, err := os.ReadFile("../xds/builder/testdata/in/lambda-mock-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg ir.Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	inv, err := testinvoke.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	lam := &extproc.Lambda{AccountID: "123456789012", Invoker: fn}
	if wire {
		inv.Processor = startProcessor(t, lam, inv.RouteKeys())
	} else {
		inv.Lambda = lam
	}
	return inv
}

func postHello(body []byte, contentType string) testinvoke.Request {
	return testinvoke.Request{Method: "POST", Target: "/v1/hello", Body: body, Headers: [][2]string{
		{"Host", "fn12345678.execute-api.eu-west-1.amazonaws.com"}, {"Content-Type", contentType},
	}}
}

// TestLambdaBodyLimit (issue 9 item 1, LIM-1): the generated configuration lets a 10,485,760-byte body through
// Envoy to the processor — Lambda routes stream the body (FULL_DUPLEX_STREAMED) and Envoy applies no buffer limit
// to it; before, the listener's 1 MiB limit applied to these direct_response routes (EXT-7) — where it cannot fit
// Lambda's 6 MB invoke: OUT-4's 413. One byte more is API Gateway's 10 MB 413. A body that fits reaches the
// function. In-process and over the wire alike.
func TestLambdaBodyLimit(t *testing.T) {
	for _, wire := range []bool{false, true} {
		name := "in-process"
		if wire {
			name = "wire"
		}
		t.Run(name, func(t *testing.T) {
			var got atomic.Int64
			inv := lambdaInvoker(t, wire, func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
				var ev struct{ Body string }
				_ = json.Unmarshal(payload, &ev)
				got.Store(int64(len(ev.Body)))
				return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
			})
			body := bytes.Repeat([]byte("a"), 10485761)
			for _, c := range []struct {
				n      int
				status int
				body   string
			}{
				{10485761, 413, "HTTP content length exceeded 10485760 bytes."},
				{10485760, 413, `{"message": "Request Too Long"}`},
				{6_000_000, 200, "ok"},
			} {
				res, err := inv.Invoke(context.Background(), postHello(body[:c.n], "text/plain"))
				if err != nil {
					t.Fatalf("%d bytes: %v", c.n, err)
				}
				if r := res.Response; r == nil || r.StatusCode != c.status || r.Body != c.body {
					t.Errorf("%d bytes: got %+v, want %d %q", c.n, r, c.status, c.body)
				}
			}
			if got.Load() != 6_000_000 {
				t.Errorf("the function received a %d-byte body, want 6,000,000", got.Load())
			}
		})
	}
}

// TestFunctionErrorStatusesUnchanged (issue 9 item 3): a function's own 500, 502, 504, 413 and 429, with its own
// body and Content-Type, reach the client unchanged. Over the wire the answer goes through what Envoy does with it:
// the processor's marker survives only because the filter lists its namespace in
// metadata_options.receiving_namespaces (ext_proc.cc Filter::setDynamicMetadata); without it the local-reply
// mappers would rewrite the 500, 504 and 413 into the gateway's own errors.
func TestFunctionErrorStatusesUnchanged(t *testing.T) {
	for _, wire := range []bool{false, true} {
		name := "in-process"
		if wire {
			name = "wire"
		}
		t.Run(name, func(t *testing.T) {
			var status atomic.Int32
			inv := lambdaInvoker(t, wire, func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
				p, _ := json.Marshal(map[string]any{"statusCode": status.Load(), "headers": map[string]string{"Content-Type": "text/x-own"},
					"body": "the function's own words"})
				return &lambdainvoke.Result{Payload: p}, nil
			})
			for _, code := range []int32{500, 502, 504, 413, 429} {
				status.Store(code)
				res, err := inv.Invoke(context.Background(), postHello([]byte("x"), "text/plain"))
				if err != nil {
					t.Fatal(err)
				}
				r := res.Response
				if r == nil || r.StatusCode != int(code) || r.Body != "the function's own words" || firstHeader(r.Headers, "content-type") != "text/x-own" {
					t.Errorf("function status %d: got %+v", code, r)
				}
			}
		})
	}
}
