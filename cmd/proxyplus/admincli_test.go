package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxyplus/proxyplus/admin"
	"github.com/proxyplus/proxyplus/internal/testutil/testpki"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

const cliToken = "ops-token-0123456789abcdef"

// cliServer is a real admin API on a loopback port, protected by admin.ServerOptions with one bearer token.
type cliServer struct {
	addr      string
	store     store.Store
	tokenFile string // the client's file: just the token
}

func startCLIServer(t *testing.T, opts admin.Options, extra ...grpc.ServerOption) *cliServer {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	serverTokens := filepath.Join(dir, "tokens")
	clientToken := filepath.Join(dir, "token")
	if err := os.WriteFile(serverTokens, []byte("ops "+cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clientToken, []byte(cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sopts, err := admin.ServerOptions(lis.Addr().String(), admin.Security{TokenFile: serverTokens},
		slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		lis.Close()
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(sopts, extra...)...)
	opts.Store = st
	admin.New(opts).Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return &cliServer{addr: lis.Addr().String(), store: st, tokenFile: clientToken}
}

// cli runs proxyplus through run, as main does, against the server with its token.
func (s *cliServer) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = append(args, "--admin-address", s.addr, "--token-file", s.tokenFile)
	var out, errb bytes.Buffer
	code = run(t.Context(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its output.
func (s *cliServer) ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("proxyplus %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// fails runs a command that must exit 1 and returns its stderr.
func (s *cliServer) fails(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := s.cli(t, args...)
	if code != 1 {
		t.Fatalf("proxyplus %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, stderr)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
		t.Errorf("the error is not one line:\n%s", stderr)
	}
	return stderr
}

const petstoreFile = "../../examples/petstore/api.yaml"

// conformanceOpenAPI is an OpenAPI 3 export from the shared conformance suite.
func conformanceOpenAPI(t *testing.T) string {
	t.Helper()
	p := "../../../shared/conformance/openapi/petstore-with-proxy-resource.oas30.json"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("conformance OpenAPI file: %v", err)
	}
	return p
}

func TestApisApplyListGetExportDelete(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	if out := s.ok(t, "apis", "list"); !strings.Contains(out, "no APIs") {
		t.Errorf("empty list: %q", out)
	}
	out := s.ok(t, "apis", "apply", "-f", petstoreFile)
	if !strings.HasPrefix(out, "created API petstore01 (petstore) at revision ") {
		t.Errorf("first apply: %q", out)
	}
	out = s.ok(t, "apis", "apply", "-f", petstoreFile)
	if !strings.HasPrefix(out, "updated API petstore01 (petstore) at revision ") {
		t.Errorf("second apply: %q", out)
	}

	out = s.ok(t, "apis", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME REVISION RESOURCES UPDATED" ||
		!strings.HasPrefix(lines[1], "petstore01") || !strings.Contains(lines[1], "petstore ") {
		t.Errorf("list table:\n%s", out)
	}
	var list adminv1.ListRestApisResponse
	if err := protojson.Unmarshal([]byte(s.ok(t, "apis", "list", "-o", "json")), &list); err != nil {
		t.Fatalf("list -o json: %v", err)
	}
	if len(list.GetRecords()) != 1 || list.GetRecords()[0].GetRestApi().GetId() != "petstore01" || list.GetRecords()[0].GetRevision() == 0 {
		t.Errorf("list -o json = %v", &list)
	}

	// By name, flags after the argument.
	out = s.ok(t, "apis", "get", "petstore", "-o", "table")
	for _, want := range []string{"ID:", "petstore01", "Revision:", "no stages", "/pets/{petId}", "HTTP_PROXY"} {
		if !strings.Contains(out, want) {
			t.Errorf("get table lacks %q:\n%s", want, out)
		}
	}
	var got adminv1.GetRestApiResponse
	if err := protojson.Unmarshal([]byte(s.ok(t, "apis", "get", "petstore01", "-o", "json")), &got); err != nil {
		t.Fatalf("get -o json: %v", err)
	}
	if got.GetRecord().GetRevision() != list.GetRecords()[0].GetRevision() {
		t.Errorf("get -o json revision %d, list said %d", got.GetRecord().GetRevision(), list.GetRecords()[0].GetRevision())
	}

	var exported map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "apis", "export", "petstore")), &exported); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if exported["openapi"] == nil || exported["paths"].(map[string]any)["/pets/{petId}"] == nil {
		t.Errorf("export = %v", exported)
	}

	if out := s.ok(t, "apis", "delete", "petstore"); !strings.HasPrefix(out, "deleted API petstore01 (petstore)") {
		t.Errorf("delete: %q", out)
	}
	if e := s.fails(t, "apis", "get", "petstore01"); !strings.Contains(e, `NotFound: no API has the id or name "petstore01"`) {
		t.Errorf("get after delete: %q", e)
	}
	if e := s.fails(t, "apis", "delete", "petstore01"); !strings.Contains(e, "NotFound") {
		t.Errorf("delete after delete: %q", e)
	}
}

func TestApisApplyOpenAPI(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	file := conformanceOpenAPI(t)
	out := s.ok(t, "apis", "apply", "-f", file)
	if !strings.HasPrefix(out, "created API ") {
		t.Fatalf("first apply: %q", out)
	}
	id := strings.Fields(out)[2]
	var resp adminv1.ImportRestApiResponse
	if err := protojson.Unmarshal([]byte(s.ok(t, "apis", "apply", "-f", file, "-o", "json")), &resp); err != nil {
		t.Fatalf("apply -o json: %v", err)
	}
	if resp.GetRecord().GetRestApi().GetId() != id {
		t.Errorf("second apply imported %s, want the existing %s replaced", resp.GetRecord().GetRestApi().GetId(), id)
	}
	var list adminv1.ListRestApisResponse
	if err := protojson.Unmarshal([]byte(s.ok(t, "apis", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.GetRecords()) != 1 {
		t.Errorf("two applies of one file made %d APIs", len(list.GetRecords()))
	}
}

func TestApisApplyInvalidFile(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	code, _, stderr := s.cli(t, "apis", "apply", "-f", "testdata/invalid.yaml")
	if code != 1 || !strings.Contains(stderr, "testdata/invalid.yaml is invalid; nothing was sent") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if out := s.ok(t, "apis", "list"); !strings.Contains(out, "no APIs") {
		t.Errorf("an invalid file reached the store: %s", out)
	}
}

// A write between apply's read and its update makes the update fail with ABORTED, reported as such.
func TestApisApplyConcurrentChange(t *testing.T) {
	for _, tc := range []struct{ name, file, method string }{
		{"proxyplus", petstoreFile, adminv1.AdminService_UpdateRestApi_FullMethodName},
		{"openapi", conformanceOpenAPI(t), adminv1.AdminService_ImportRestApi_FullMethodName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st store.Store
			var raced, armed atomic.Bool
			var id string
			// Someone else changes the API between the CLI's read and its write.
			race := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if info.FullMethod == tc.method && armed.Load() && raced.CompareAndSwap(false, true) {
					a, err := st.GetAPI(ctx, id)
					if err != nil {
						return nil, err
					}
					a.Definition.Id = a.ID
					a.Definition.Description = "changed by someone else"
					if _, err := st.UpdateAPI(ctx, a.Definition, 0); err != nil {
						return nil, err
					}
				}
				return h(ctx, req)
			}
			s := startCLIServer(t, admin.Options{}, grpc.ChainUnaryInterceptor(race))
			st = s.store
			out := s.ok(t, "apis", "apply", "-f", tc.file)
			if f := strings.Fields(out); len(f) < 3 || f[0] != "created" {
				t.Fatalf("first apply: %q", out)
			} else {
				id = f[2]
			}
			armed.Store(true)
			e := s.fails(t, "apis", "apply", "-f", tc.file)
			if !strings.Contains(e, "Aborted: API "+id+" was changed concurrently") {
				t.Errorf("stderr: %q", e)
			}
			a, err := st.GetAPI(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Definition.GetDescription() != "changed by someone else" {
				t.Errorf("the concurrent change was overwritten: %q", a.Definition.GetDescription())
			}
			// Applying again, with nothing racing, succeeds.
			if out := s.ok(t, "apis", "apply", "-f", tc.file); !strings.HasPrefix(out, "updated") {
				t.Errorf("apply after the conflict: %q", out)
			}
		})
	}
}

func TestDeployAndStatus(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	doc := map[string]any{
		"xds": xdsserver.Status{
			Snapshot: xdsserver.SnapshotStatus{Version: "v42", Generation: 3, PublishedAt: at, Streams: 1},
			Nodes: []xdsserver.NodeStatus{{ID: "envoy-1", Cluster: "edge", Connected: true, Streams: 1, ConnectedSince: at,
				Types: []xdsserver.TypeStatus{
					{TypeURL: "type.googleapis.com/envoy.config.listener.v3.Listener", AckedVersion: "v42"},
					{TypeURL: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", AckedVersion: "v41", NackCount: 2,
						LastNack: &xdsserver.NackStatus{RejectedVersion: "v42", Message: "route: bad\nregex", At: at},
						Resources: []xdsserver.ResourceStatus{{Name: "proxyplus-http/abc", AckedVersion: "v41", NackedVersion: "v42"},
							{Name: "proxyplus-http/def", AckedVersion: "v40"}}},
				}}},
		},
		"definitions": map[string]any{"version": "v42", "last_reload": at, "held_back": []map[string]any{
			{"api": "other00001", "source": "store:apis/other00001", "reason": "stage dev, GET /orders: uri: uses stage variable(s) backend [HTP-2]",
				"serving_last_good": true, "last_good_at": at, "since": at},
			{"source": "/etc/apis/broken.yaml", "reason": "read: cannot read the definition", "since": at},
		}},
	}
	s := startCLIServer(t, admin.Options{StatusFunc: func() any { return doc }, ExtProcHealthy: func() bool { return true }})
	s.ok(t, "apis", "apply", "-f", petstoreFile)
	out := s.ok(t, "deploy", "--api", "petstore", "--stage", "dev", "--description", "first", "--variable", "backend=127.0.0.1:9009",
		"--variable", "mode=a")
	if !strings.HasPrefix(out, "deployed API petstore01 (petstore) to stage dev: deployment ") {
		t.Errorf("deploy: %q", out)
	}
	var dep struct {
		Deployment *json.RawMessage `json:"deployment"`
		Stage      *json.RawMessage `json:"stage"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "deploy", "--api", "petstore01", "--stage", "dev", "--variable", "mode=b", "-o", "json")), &dep); err != nil || dep.Deployment == nil || dep.Stage == nil {
		t.Fatalf("deploy -o json: %v %+v", err, dep)
	}
	var d adminv1.Deployment
	var stage adminv1.StageRecord
	if err := protojson.Unmarshal(*dep.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(*dep.Stage, &stage); err != nil {
		t.Fatal(err)
	}
	// The stage serves the new deployment, keeps the variable not given and takes the new value of the one given.
	vars := stage.GetStage().GetVariables()
	if stage.GetStage().GetDeploymentId() != d.GetId() || vars["backend"] != "127.0.0.1:9009" || vars["mode"] != "b" {
		t.Errorf("stage after the second deploy = %v (deployment %s)", &stage, d.GetId())
	}
	stored, err := s.store.GetStage(t.Context(), "petstore01", "dev")
	if err != nil || stored.DeploymentID != d.GetId() {
		t.Errorf("stored stage = %+v, %v", stored, err)
	}
	if out := s.ok(t, "apis", "get", "petstore"); !strings.Contains(out, "dev") || !strings.Contains(out, d.GetId()) {
		t.Errorf("get does not show the stage:\n%s", out)
	}

	out = s.ok(t, "status")
	for _, want := range []string{"ext_proc:", "SERVING", "version v42 (generation 3)", "envoy-1", "edge",
		"since 2026-03-01T12:00:00Z", "Listener", "RouteConfiguration", "v42 at 2026-03-01T12:00:00Z: route: bad regex",
		"proxyplus-http/abc", "v42 rejected", "proxyplus-http/def", "v40",
		"held back:", "API other00001 (store:apis/other00001) since 2026-03-01T12:00:00Z, serving its last good version of 2026-03-01T12:00:00Z: stage dev, GET /orders: uri: uses stage variable(s) backend [HTP-2]",
		"API - (/etc/apis/broken.yaml) since 2026-03-01T12:00:00Z, NOT SERVED (no good version since start): read: cannot read the definition"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var sr adminv1.GetStatusResponse
	if err := protojson.Unmarshal([]byte(s.ok(t, "status", "-o", "json")), &sr); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	if !sr.GetExtprocServing() || !strings.Contains(sr.GetStatusJson(), "envoy-1") {
		t.Errorf("status -o json = %v", &sr)
	}

	if e := s.fails(t, "deploy", "--api", "nosuch", "--stage", "dev"); !strings.Contains(e, `NotFound: no API has the id or name "nosuch"`) {
		t.Errorf("deploy of a missing API: %q", e)
	}
}

// TestDeployRefusesUnservableStage: deploying an API to a stage that lacks a stage variable the API needs is
// refused with the stage and the variable named, exit 1, and changes nothing; with the variable it deploys.
func TestDeployRefusesUnservableStage(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	s.ok(t, "apis", "apply", "-f", petstoreFile)
	e := s.fails(t, "deploy", "--api", "petstore", "--stage", "dev")
	for _, want := range []string{"FailedPrecondition", "stage dev of API petstore01", "the stage was not changed",
		"does not define the variable backend", "GET /pets"} {
		if !strings.Contains(e, want) {
			t.Errorf("refusal lacks %q: %s", want, e)
		}
	}
	if _, err := s.store.GetStage(t.Context(), "petstore01", "dev"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused stage exists: %v", err)
	}
	if deps, _, err := s.store.ListDeployments(t.Context(), "petstore01", 0, ""); err != nil || len(deps) != 0 {
		t.Errorf("the refused deploy left deployments: %v, %v", deps, err)
	}
	s.ok(t, "deploy", "--api", "petstore", "--stage", "dev", "--variable", "backend=127.0.0.1:8081")
	// Redeploying keeps the variable: accepted without --variable.
	s.ok(t, "deploy", "--api", "petstore", "--stage", "dev")
	// Overwriting the variable with a port API Gateway refuses is refused with the reason.
	e = s.fails(t, "deploy", "--api", "petstore", "--stage", "dev", "--variable", "backend=127.0.0.1:1")
	if !strings.Contains(e, "stage dev of API petstore01") || !strings.Contains(e, "RES-15") && !strings.Contains(e, "port") {
		t.Errorf("refusal of a bad variable value: %s", e)
	}
	if st, err := s.store.GetStage(t.Context(), "petstore01", "dev"); err != nil || st.Variables["backend"] != "127.0.0.1:8081" {
		t.Errorf("stage after the refusal: %+v, %v", st, err)
	}
}

func TestApisAuthErrors(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(t.Context(), &env{stdout: &out, stderr: &errb}, []string{"apis", "list", "--admin-address", s.addr, "--token-file", wrong})
	if code != 1 || !strings.Contains(errb.String(), "Unauthenticated: invalid bearer token") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	code = run(t.Context(), &env{stdout: &out, stderr: &errb}, []string{"status", "--admin-address", s.addr})
	if code != 1 || !strings.Contains(errb.String(), "Unauthenticated: missing bearer token") {
		t.Errorf("no token: exit %d, stderr %q", code, errb.String())
	}
	// A token is never sent in clear text to a remote host.
	errb.Reset()
	code = run(t.Context(), &env{stdout: &out, stderr: &errb}, []string{"apis", "list", "--admin-address", "192.0.2.1:18002", "--token-file", s.tokenFile})
	if code != 1 || !strings.Contains(errb.String(), "refusing to send the token in clear text to 192.0.2.1:18002") {
		t.Errorf("token to a remote plaintext address: exit %d, stderr %q", code, errb.String())
	}
	// Nothing listening: one line naming the address.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	errb.Reset()
	code = run(t.Context(), &env{stdout: &out, stderr: &errb}, []string{"apis", "list", "--admin-address", closed})
	if code != 1 || !strings.Contains(errb.String(), "Unavailable: cannot reach the admin API at "+closed) {
		t.Errorf("nothing listening: exit %d, stderr %q", code, errb.String())
	}
}

func TestApisUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"apis"},
		{"apis", "frobnicate"},
		{"apis", "get"},
		{"apis", "get", "a", "b"},
		{"apis", "list", "-o", "yaml"},
		{"apis", "apply"},
		{"apis", "list", "--tls-cert", "c.pem"},
		{"deploy", "--api", "x"},
		{"deploy", "--api", "x", "--stage", "dev", "--variable", "novalue"},
		{"status", "extra"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("proxyplus %s: exit %d, stderr %q; want 2 and a message", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestAdminRPCErrorOneLine(t *testing.T) {
	st := status.New(codes.InvalidArgument, "2 errors:\n  rest_api: $.name: name is required\n  rest_api: $.resources[1]: bad path")
	st, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: "$.name", Description: "name is required"}, {Field: "$.resources[1]", Description: "bad path"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &adminConn{addr: "127.0.0.1:1"}
	got := c.rpcError(st.Err()).Error()
	want := "InvalidArgument: 2 errors ($.name: name is required; $.resources[1]: bad path)"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	single, _ := status.New(codes.InvalidArgument, "stage.stage_name is required").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "stage.stage_name", Description: "stage.stage_name is required"}}})
	// A violation whose description the message already holds is not repeated.
	if got := c.rpcError(single.Err()).Error(); got != "InvalidArgument: stage.stage_name is required" {
		t.Errorf("single violation: %q", got)
	}
	plain := errors.New("not a status")
	if got := c.rpcError(plain); got != plain {
		t.Errorf("non-status error changed: %v", got)
	}
}

// The TLS flags: server certificate verified against --tls-ca, client certificate for mTLS.
func TestApisTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test CA")
	caFile := ca.WriteCert(t, filepath.Join(dir, "ca.pem"))
	srvCert, srvKey := ca.IssueFiles(t, testpki.Server("admin", "admin.internal"), dir, "server")
	clCert, clKey := ca.IssueFiles(t, testpki.Client("ops"), dir, "client")

	st, err := store.OpenBolt(filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sopts, err := admin.ServerOptions(lis.Addr().String(), admin.Security{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: caFile},
		slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(sopts...)
	admin.New(admin.Options{Store: st}).Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	base := []string{"apis", "list", "--admin-address", lis.Addr().String(), "--tls-ca", caFile, "--tls-server-name", "admin.internal"}
	var out, errb bytes.Buffer
	if code := run(t.Context(), &env{stdout: &out, stderr: &errb}, append(base, "--tls-cert", clCert, "--tls-key", clKey)); code != 0 ||
		!strings.Contains(out.String(), "no APIs") {
		t.Fatalf("mTLS: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), &env{stdout: &out, stderr: &errb}, base); code != 1 || !strings.Contains(errb.String(), "Unavailable") {
		t.Errorf("without a client certificate: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	// A plaintext client cannot talk to the TLS server.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := adminv1.NewAdminServiceClient(conn).ListRestApis(t.Context(), &adminv1.ListRestApisRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v", err)
	}
}
