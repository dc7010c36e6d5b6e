//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/funchost"
)

// runtimeEnv makes the test binary a Lambda function speaking the Runtime API (see testRuntime).
const runtimeEnv = "PROXYPLUS_TEST_RUNTIME"

func init() {
	if os.Getenv(runtimeEnv) == "1" {
		testRuntime()
		os.Exit(0)
	}
}

// testRuntime is a minimal custom runtime: it answers every event with a proxy response whose body is the
// event's length.
func testRuntime() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	for {
		resp, err := http.Get(api + "next")
		if err != nil {
			os.Exit(1)
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := fmt.Sprintf(`{"statusCode":200,"body":"%d"}`, len(event))
		r, err := http.Post(api+resp.Header.Get("Lambda-Runtime-Aws-Request-Id")+"/response", "application/json", strings.NewReader(out))
		if err != nil {
			os.Exit(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

// TestServeSequentialInvokes is issue 10's acceptance test for invoke reliability: 10,000 sequential Lambda
// exchanges with 2 KB bodies (2,000 with -short) through serve, whose function is invoked through the Lambda
// Invoke API (AWS_ENDPOINT_URL_LAMBDA) of a local function host served as serve serves it (serveHTTP): no
// failure, and no "lambda invoke failed" in serve's log. An ext_proc client plays Envoy, one stream per request.
func TestServeSequentialInvokes(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host, err := funchost.New([]funchost.Function{{Name: "hello", Command: []string{self}, Env: map[string]string{runtimeEnv: "1"}}},
		funchost.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = host.Close(ctx)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiCtx, apiStop := context.WithCancel(context.Background())
	defer apiStop()
	go func() { _ = serveHTTP(apiCtx, ln, host.InvokeAPIHandler()) }()

	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", "http://"+ln.Addr().String())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		if v, ok := os.LookupEnv(k); ok {
			os.Unsetenv(k)
			t.Cleanup(func() { os.Setenv(k, v) })
		}
	}

	ports := freePorts(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs bytes.Buffer
	keyFile := writeRouteKeyFile(t)
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: &syncWriter{w: &logs}}, []string{"serve", "--api", "testdata/lambda.yaml", "--stage", "dev",
			"--xds-address", ports[0], "--extproc-address", ports[1], "--metrics-address", ports[2], "--admin-address", "off",
			"--account-id", "123456789012", "--route-key-file", keyFile})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
		if strings.Contains(logs.String(), "lambda invoke failed") {
			t.Errorf("serve logged failed invocations:\n%s", logs.String())
		}
	}()

	conn, err := grpc.NewClient(ports[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	route := generatedRouteMetadata(t, "testdata/lambda.yaml", "dev", "POST", keyFile)
	md := metadata.AppendToOutgoingContext(context.Background(), route...)
	client := extprocsvcv3.NewExternalProcessorClient(conn)
	body := bytes.Repeat([]byte("x"), 2048)
	hm := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/dev/hello/ann"}, {":authority", "lam0000001.execute-api.localhost"},
		{"x-forwarded-for", "198.51.100.7"}, {"content-type", "text/plain"}, {"content-length", strconv.Itoa(len(body))}} {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	headers := &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm}}}
	bodyMsg := &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{Body: body, EndOfStream: true}}}

	exchange := func() (int32, string, error) {
		rctx, rcancel := context.WithTimeout(md, 30*time.Second)
		defer rcancel()
		stream, err := client.Process(rctx, grpc.WaitForReady(true))
		if err != nil {
			return 0, "", err
		}
		if err := stream.Send(headers); err != nil {
			return 0, "", err
		}
		if err := stream.Send(bodyMsg); err != nil {
			return 0, "", err
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				return 0, "", err
			}
			if ir := resp.GetImmediateResponse(); ir != nil {
				return int32(ir.GetStatus().GetCode()), string(ir.GetBody()) + " " + ir.GetDetails(), stream.CloseSend()
			}
		}
	}
	start := time.Now()
	failures := 0
	for i := range n {
		code, answer, err := exchange()
		if err != nil || code != 200 {
			failures++
			if failures <= 5 {
				t.Errorf("exchange %d: %v %d %s", i, err, code, answer)
			}
		}
	}
	t.Logf("%d exchanges, %d failures, %v", n, failures, time.Since(start))
	if failures > 0 {
		t.Errorf("%d of %d exchanges failed", failures, n)
	}
}
