package testinvoke_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/testinvoke/output"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// TestConformanceCognitoAPIKeys runs the Cognito and API-key cases of authorizers/ (operation-security-overrides-root
// is a Cognito case) through the evaluator with the
// jwt_authn and ext_authz models, in-process and over the wire (the authorization service and the ext_proc
// service over gRPC on unix sockets). A case without functionResponse must not reach the function.
func TestConformanceCognitoAPIKeys(t *testing.T) {
	cases, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		name := strings.TrimPrefix(c.ID, "authorizers/")
		if !strings.HasPrefix(name, "cognito-") && !strings.HasPrefix(name, "api-key-") && name != "operation-security-overrides-root" {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) { runAuthzCase(t, c, false) })
		t.Run(c.ID+"/wire", func(t *testing.T) { runAuthzCase(t, c, true) })
	}
	if n != 9 {
		t.Fatalf("want the 8 cognito-* and api-key-* cases and operation-security-overrides-root, found %d", n)
	}
}

func runAuthzCase(t *testing.T, c *conformance.Case, wire bool) {
	res, err := loader.Load(c.File, c.API, loader.Options{})
	if err != nil {
		t.Fatalf("load api: %v", err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(c.File, res.API, c.Stage, c.StageVariables)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("translate: %v", err)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.DryRun = true
	if c.JWKS != nil {
		if inv.JWKS, err = evaluator.ParseJWKS(c.JWKS); err != nil {
			t.Fatal(err)
		}
	}
	if c.APIKeys != nil {
		if inv.Authz.Keys, err = authz.ParseKeyFile(c.File, c.APIKeys); err != nil {
			t.Fatal(err)
		}
	}
	var event []byte
	called := false
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		called = true
		event = append([]byte(nil), payload...)
		return functionResult(t, c.FunctionResponse), nil
	})}
	if wire {
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
		inv.AuthzClient = startAuthz(t, inv.Authz)
	}
	req := testinvoke.Request{Method: c.Request.Method, Target: c.Request.Target}
	for _, h := range c.Request.Headers {
		req.Headers = append(req.Headers, [2]string{h[0], h[1]})
	}
	got, err := inv.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if wire && got.Integration != nil && event != nil {
		got.Integration.Event = event
	}
	if c.FunctionResponse == nil && called {
		t.Errorf("the function was invoked; the case expects the request refused before the integration")
	}
	printed, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var out output.Result
	if err := json.Unmarshal(printed, &out); err != nil {
		t.Fatal(err)
	}
	for _, p := range conformance.Check(c, &out) {
		t.Error(p)
	}
}

// startAuthz serves the authorization service over gRPC on a unix socket.
func startAuthz(t *testing.T, svc *authz.Service) authv3.AuthorizationClient {
	t.Helper()
	svc.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	sock := filepath.Join(t.TempDir(), "a.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, svc)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}
