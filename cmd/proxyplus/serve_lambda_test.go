package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// TestServeLambdaThroughFakeInvokeAPI: proxyplus serve with AWS_ENDPOINT_URL_LAMBDA pointing at a fake Lambda
// Invoke API answers an ext_proc client that plays Envoy — with the route metadata Envoy would send for the
// generated route — with the function's response as an immediate response.
func TestServeLambdaThroughFakeInvokeAPI(t *testing.T) {
	var gotPath string
	var gotEvent map[string]any
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &gotEvent)
		_, _ = io.WriteString(w, `{"statusCode":202,"headers":{"X-From":"fake"},"body":"from-fake"}`)
	}))
	defer fake.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	if v, ok := os.LookupEnv("AWS_CA_BUNDLE"); ok {
		os.Unsetenv("AWS_CA_BUNDLE") // the fake speaks plain HTTP
		t.Cleanup(func() { os.Setenv("AWS_CA_BUNDLE", v) })
	}

	ports := freePorts(t, 3)
	keyFile := writeRouteKeyFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	logw := &syncWriter{w: &errb}
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: logw}, []string{"serve", "--api", "testdata/lambda.yaml", "--stage", "dev",
			"--xds-address", ports[0], "--extproc-address", ports[1], "--metrics-address", ports[2], "--admin-address", "off", "--account-id", "123456789012",
			"--route-key-file", keyFile})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	}()

	conn, err := grpc.NewClient(ports[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	route := generatedRouteMetadata(t, "testdata/lambda.yaml", "dev", "POST", keyFile)
	md := metadata.AppendToOutgoingContext(context.Background(), route...)
	// WaitForReady: the stream waits for serve's listener instead of the test sleeping.
	rctx, rcancel := context.WithTimeout(md, 20*time.Second)
	defer rcancel()
	stream, err := extprocsvcv3.NewExternalProcessorClient(conn).Process(rctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	hm := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/dev/hello/ann"}, {":authority", "lam0000001.execute-api.localhost"}, {"x-forwarded-for", "198.51.100.7"}} {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	if err := stream.Send(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	ir := resp.GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 202 || string(ir.GetBody()) != "from-fake" {
		t.Fatalf("immediate response: %v\nserve log:\n%s", resp, errb.String())
	}
	if !strings.Contains(gotPath, "function:hello/invocations") {
		t.Errorf("Invoke API path %s", gotPath)
	}
	if rc, _ := gotEvent["requestContext"].(map[string]any); rc["accountId"] != "123456789012" || gotEvent["path"] != "/hello/ann" {
		t.Errorf("event: %v", gotEvent)
	}

	// The same route signed with another key (a forger's, or a control plane with another key file): serve's
	// processor answers 500 and the Invoke API is never called.
	gotPath = ""
	forged := generatedRouteMetadata(t, "testdata/lambda.yaml", "dev", "POST", writeRouteKeyFile(t))
	fctx, fcancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), forged...), 20*time.Second)
	defer fcancel()
	fstream, err := extprocsvcv3.NewExternalProcessorClient(conn).Process(fctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstream.Send(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true}}}); err != nil {
		t.Fatal(err)
	}
	fresp, err := fstream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if fresp.GetImmediateResponse().GetStatus().GetCode() != 500 || gotPath != "" {
		t.Fatalf("forged route: %v, Invoke API called at %q", fresp, gotPath)
	}
	if logged := logw.String(); !strings.Contains(logged, "does not hold") {
		t.Errorf("serve did not log the refusal:\n%s", logged)
	}
}

// generatedRouteMetadata translates a definition as serve does and returns the gRPC initial metadata, as key/value
// pairs, the generated route of method M tells Envoy to send to the processor: its virtual host's (the API's
// deployment ids) and its own, which Envoy merges (ext_proc.cc Filter::mergePerRouteConfig).
func generatedRouteMetadata(t *testing.T, file, stage, method, keyFile string) []string {
	t.Helper()
	res, err := loader.LoadFile(file, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := readRouteKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(file, res.API, stage, nil)}, translator.Options{RouteKeys: keys})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	built, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	metadataOf := func(pf map[string]*anypb.Any) []string {
		a, ok := pf[builder.ExtProcFilterName]
		if !ok {
			return nil
		}
		var fc routev3.FilterConfig
		if a.MessageIs(&fc) { // wrapped: unwrap (the builder writes the config bare)
			if err := a.UnmarshalTo(&fc); err != nil {
				t.Fatal(err)
			}
			if fc.GetDisabled() {
				return nil
			}
			a = fc.GetConfig()
		}
		var per extprocv3.ExtProcPerRoute
		if err := a.UnmarshalTo(&per); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, md := range per.GetOverrides().GetGrpcInitialMetadata() {
			out = append(out, md.GetKey(), md.GetValue())
		}
		return out
	}
	for _, vh := range built.Routes[0].GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if !strings.HasSuffix(r.GetName(), "/"+method) {
				continue
			}
			return append(metadataOf(vh.GetTypedPerFilterConfig()), metadataOf(r.GetTypedPerFilterConfig())...)
		}
	}
	t.Fatalf("no %s route in %s", method, file)
	return nil
}

// writeRouteKeyFile writes a fresh route key file, as an operator would for serve and extproc.
func writeRouteKeyFile(t *testing.T) string {
	t.Helper()
	raw, err := ir.NewRouteKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "route.key")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
