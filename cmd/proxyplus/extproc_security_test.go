package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil/testpki"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// TestExtProcMutualTLS: with a certificate, key and client CA the processor speaks TLS and serves only clients
// (Envoys) presenting a certificate from the client CA; a Go gRPC client stands for Envoy, with the route data
// serve would sign.
func TestExtProcMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ext_proc CA")
	caFile := ca.WriteCert(t, filepath.Join(dir, "ca.pem"))
	cert, key := ca.IssueFiles(t, testpki.Server("proxyplus-extproc", "proxyplus-extproc.gateway.svc"), dir, "extproc")
	envoyCert := ca.Issue(t, testpki.Client("envoy-1"))
	strangerCert := testpki.NewCA(t, "other CA").Issue(t, testpki.Client("envoy-2"))

	keys, err := readRouteKeys(writeRouteKeyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := processorServerOptions(&apigatewayv1.TLSFiles{CertFile: cert, KeyFile: key, ClientCaFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	invoked := 0
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		invoked++
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"over mTLS"}`)}, nil
	})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serveExtProc(ctx, lis, slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, nil, keys, nil, opts)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	route, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "api0000001", Stage: "prod", DeploymentID: "dep001", Route: ir.Route{
		ResourceID: "r1", ResourcePath: "/hello", Method: "GET", Integration: ir.Integration{Type: ir.AWSProxy,
			Lambda: &ir.LambdaIntegration{FunctionARN: "hello", Timeout: ir.Duration(3 * time.Second)}}}}, keys)
	if err != nil {
		t.Fatal(err)
	}

	exchange := func(certs []tls.Certificate) (*extprocsvcv3.ImmediateResponse, error) {
		creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool, Certificates: certs, ServerName: "proxyplus-extproc.gateway.svc", MinVersion: tls.VersionTLS12})
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		rctx, rcancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), ir.RouteMetadataKey, route), 10*time.Second)
		defer rcancel()
		stream, err := extprocsvcv3.NewExternalProcessorClient(conn).Process(rctx)
		if err != nil {
			return nil, err
		}
		hm := &corev3.HeaderMap{}
		for _, kv := range [][2]string{{":method", "GET"}, {":path", "/prod/hello"}, {":authority", "api0000001.execute-api.localhost"}} {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
		}
		if err := stream.Send(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{
			RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true}}}); err != nil {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return resp.GetImmediateResponse(), nil
	}
	imm, err := exchange([]tls.Certificate{envoyCert})
	if err != nil || imm.GetStatus().GetCode() != 200 || string(imm.GetBody()) != "over mTLS" {
		t.Fatalf("Envoy with a certificate from the client CA: %v, %v", imm, err)
	}
	if _, err := exchange(nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := exchange([]tls.Certificate{strangerCert}); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	if invoked != 1 {
		t.Fatalf("invoked %d times, want 1", invoked)
	}
}

// TestExtProcNeedsRouteKey: a standalone processor without the control plane's key would refuse every route;
// it refuses to start instead.
func TestExtProcNeedsRouteKey(t *testing.T) {
	code, _, stderr := runCLI(t, "extproc", "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "--route-key-file is required") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestExtProcWarnsOnPublicAddress: `proxyplus extproc --listen 0.0.0.0:…` says loudly what it exposes.
func TestExtProcWarnsOnPublicAddress(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	port := freePorts(t, 1)[0]
	_, p, _ := net.SplitHostPort(port)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	log := &syncWriter{w: &bytes.Buffer{}}
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: log}, []string{"extproc", "--listen", "0.0.0.0:" + p, "--route-key-file", writeRouteKeyFile(t)})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("extproc exited %d: %s", code, log.String())
		}
	}()
	// The warning is logged before the server starts serving: once health answers, it is there.
	conn, err := grpc.NewClient("127.0.0.1:"+p, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hctx, hcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer hcancel()
	if _, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "NON-LOOPBACK") || !strings.Contains(out, "all_interfaces=true") || !strings.Contains(out, `protection="no TLS"`) {
		t.Fatalf("no warning about the public address:\n%s", out)
	}
}

// TestServeRouteKeyInDataDir: without --route-key-file serve creates route.key (0600) in its data dir once and
// reuses it; with an etcd store it refuses to invent one.
func TestServeRouteKeyInDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := serveRouteKeys("", dir, "", log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, routeKeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("route.key: %v, %v", fi, err)
	}
	again, err := serveRouteKeys("", dir, "", log)
	if err != nil || again[0].ID != first[0].ID {
		t.Fatalf("second start: %v, %v", again, err)
	}
	if _, err := serveRouteKeys("", dir, "etcd://127.0.0.1:2379/p", log); err == nil || !strings.Contains(err.Error(), "--route-key-file") {
		t.Fatalf("etcd without a key file: %v", err)
	}
}

// TestBootstrapTLS: `proxyplus bootstrap` gives Envoy TLS to the ADS server (inline files) and the static secrets
// the processor cluster's TLS names (serve --extproc-tls-*); the bootstrap validates.
func TestBootstrapTLS(t *testing.T) {
	code, out, stderr := runCLI(t, "bootstrap", "--xds-address", "proxyplus.gateway.svc:18000", "--node-id", "n1", "-o", "json",
		"--xds-tls-ca", "/etc/envoy/tls/ca.pem", "--xds-tls-cert", "/etc/envoy/tls/envoy.pem", "--xds-tls-key", "/etc/envoy/tls/envoy-key.pem",
		"--extproc-tls-ca", "/etc/envoy/tls/ca.pem", "--extproc-tls-cert", "/etc/envoy/tls/envoy.pem", "--extproc-tls-key", "/etc/envoy/tls/envoy-key.pem")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`"name":"proxyplus-extproc-ca"`, `"name":"proxyplus-extproc-client"`, `"sni":"proxyplus.gateway.svc"`,
		`"exact":"proxyplus.gateway.svc"`, `"filename":"/etc/envoy/tls/envoy-key.pem"`, `UpstreamTlsContext`,
	} {
		if !strings.Contains(strings.ReplaceAll(out, " ", ""), want) {
			t.Errorf("bootstrap lacks %s:\n%s", want, out)
		}
	}
	if code, _, stderr := runCLI(t, "bootstrap", "--node-id", "n1", "--extproc-tls-cert", "/c.pem"); code == 0 || !strings.Contains(stderr, "CA file is required") {
		t.Errorf("a client certificate without a CA: exit %d, %s", code, stderr)
	}
}

// TestTranslateSignsRouteData: `translate --route-key-file` signs as serve does; without it the output says that
// a processor will refuse it.
func TestTranslateSignsRouteData(t *testing.T) {
	keyFile := writeRouteKeyFile(t)
	keys, err := readRouteKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "translate", "--api", "testdata/lambda.yaml", "--stage", "dev", "--route-key-file", keyFile)
	if code != 0 || !strings.Contains(out, "v1."+keys[0].ID+".") || strings.Contains(stderr, "unsigned") {
		t.Fatalf("signed: exit %d, stderr %q", code, stderr)
	}
	code, out, stderr = runCLI(t, "translate", "--api", "testdata/lambda.yaml", "--stage", "dev")
	if code != 0 || !strings.Contains(out, "v1.0.") || !strings.Contains(stderr, "unsigned") {
		t.Fatalf("unsigned: exit %d, stderr %q", code, stderr)
	}
}
