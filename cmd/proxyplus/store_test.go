package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/proxyplus/proxyplus/internal/testutil/etcdtest"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// adminClient dials an admin API without credentials (loopback).
func adminClient(t *testing.T, addr string) adminv1.AdminServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminv1.NewAdminServiceClient(conn)
}

// applyAndDeploy creates a one-resource MOCK API through the admin API and deploys it to stage.
func applyAndDeploy(t *testing.T, c adminv1.AdminServiceClient, id, path, stage string) {
	t.Helper()
	ctx := t.Context()
	api := &apigatewayv1.RestApi{Id: id, Name: id, Resources: []*apigatewayv1.Resource{{Path: path, ResourceMethods: map[string]*apigatewayv1.Method{
		"GET": {HttpMethod: "GET", AuthorizationType: "NONE", Integration: &apigatewayv1.Integration{Type: "MOCK",
			IntegrationResponses: map[string]*apigatewayv1.IntegrationResponse{"200": {StatusCode: "200"}}}},
	}}}}
	if _, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: api}); err != nil {
		t.Fatal(err)
	}
	dep, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: id, Stage: &apigatewayv1.Stage{StageName: stage, DeploymentId: dep.GetDeployment().GetId()}}); err != nil {
		t.Fatal(err)
	}
}

// routesVersion opens an ADS stream to addr (as Envoy does, raw, to see version_info) and returns the version
// of the first RDS response whose routes satisfy want, ACKing every response on the way.
func routesVersion(t *testing.T, addr string, want func(routeNames map[string]bool) bool) string {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy-" + t.Name()}, TypeUrl: resourcev3.RouteType}
	for {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("ADS stream to %s: %v", addr, err)
		}
		names := map[string]bool{}
		for _, a := range resp.GetResources() {
			var rc routev3.RouteConfiguration
			if err := a.UnmarshalTo(&rc); err != nil {
				t.Fatal(err)
			}
			for _, vh := range rc.GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					names[r.GetName()] = true
				}
			}
		}
		if want(names) {
			return resp.GetVersionInfo()
		}
		// ACK, and wait for the next version.
		req = &discoveryv3.DiscoveryRequest{Node: req.Node, TypeUrl: resourcev3.RouteType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	}
}

// hasStage reports whether route names include a route of api/stage.
func hasStage(api, stage string) func(map[string]bool) bool {
	return func(names map[string]bool) bool {
		for n := range names {
			if len(n) > len(api+"/"+stage+"/") && n[:len(api+"/"+stage+"/")] == api+"/"+stage+"/" {
				return true
			}
		}
		return false
	}
}

// TestServeRestartKeepsVersion: an API applied and deployed through the admin API is served; after a restart with
// the same data dir the same snapshot version is served, without any definition file.
func TestServeRestartKeepsVersion(t *testing.T) {
	dataDir := t.TempDir()
	p := freePorts(t, 4)
	args := []string{"--xds-address", p[0], "--extproc-address", p[1], "--metrics-address", p[2], "--admin-address", p[3],
		"--data-dir", dataDir, "--watch-interval", "0"}
	_, stop := startServe(t, p[3], args...)
	applyAndDeploy(t, adminClient(t, p[3]), "restart01", "/hello", "prod")
	before := routesVersion(t, p[0], hasStage("restart01", "prod"))
	stop()

	_, stop = startServe(t, p[3], args...)
	defer stop()
	after := routesVersion(t, p[0], func(map[string]bool) bool { return true })
	if after != before {
		t.Fatalf("version after restart %q, before %q", after, before)
	}
}

// TestServeTwoReplicasOnEtcd: two serve replicas share one etcd (--store etcd://…/prefix). An API applied and
// deployed through replica A's admin API reaches ADS clients of replica B, and both replicas serve it with the same
// snapshot version, so Envoys can connect to either.
func TestServeTwoReplicasOnEtcd(t *testing.T) {
	etcd, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close) // registered first, so it runs after the replicas' cleanups have stopped them
	storeURL := "etcd://" + etcd.Endpoints[0] + "/proxyplus-" + t.Name()
	// Replicas sign route data with one shared key, so they publish the same configuration (same version).
	keyFile := writeRouteKeyFile(t)
	replica := func() (xdsAddr, adminAddr string) {
		p := freePorts(t, 4)
		startServe(t, p[3], "--store", storeURL, "--xds-address", p[0], "--extproc-address", p[1],
			"--metrics-address", p[2], "--admin-address", p[3], "--watch-interval", "0", "--route-key-file", keyFile)
		return p[0], p[3]
	}
	xdsA, adminA := replica()
	xdsB, _ := replica()

	applyAndDeploy(t, adminClient(t, adminA), "replica01", "/orders", "prod")
	vB := routesVersion(t, xdsB, hasStage("replica01", "prod"))
	vA := routesVersion(t, xdsA, hasStage("replica01", "prod"))
	if vA != vB || vA == "" {
		t.Fatalf("replica A serves version %q, replica B %q", vA, vB)
	}
}

// TestServeAdminSecurity: serve refuses an unauthenticated admin API on a non-loopback address; with a token file
// the CLI needs the token; health and reflection (grpcurl) answer without one; changes are audited.
func TestServeAdminSecurity(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--admin-address", "0.0.0.0:0", "--data-dir", t.TempDir(), "--xds-address", "127.0.0.1:0",
		"--extproc-address", "127.0.0.1:0", "--metrics-address", "off")
	if code != 2 || !strings.Contains(stderr, "0.0.0.0:0") || !strings.Contains(stderr, "--admin-token-file") {
		t.Fatalf("unauthenticated admin API on all interfaces: exit %d, %q", code, stderr)
	}

	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	token := "s3cret-token-for-ci-0001"
	if err := os.WriteFile(tokens, []byte("ci "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientToken := filepath.Join(dir, "token")
	if err := os.WriteFile(clientToken, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 4)
	log, _ := startServe(t, p[3], "--xds-address", p[0], "--extproc-address", p[1], "--metrics-address", p[2],
		"--admin-address", p[3], "--admin-token-file", tokens, "--data-dir", t.TempDir(), "--watch-interval", "0")

	if code, _, stderr := runCLI(t, "apis", "list", "--admin-address", p[3]); code != 1 || !strings.Contains(stderr, "Unauthenticated") {
		t.Fatalf("apis list without a token: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "apis", "apply", "-f", "../../examples/shop/api.yaml", "--admin-address", p[3], "--token-file", clientToken); code != 0 {
		t.Fatalf("apis apply with the token: exit %d, %q", code, stderr)
	}
	if code, out, stderr := runCLI(t, "apis", "list", "--admin-address", p[3], "--token-file", clientToken); code != 0 || !strings.Contains(out, "shop000001") {
		t.Fatalf("apis list with the token: exit %d, %q %q", code, out, stderr)
	}
	if !strings.Contains(log.String(), "who=ci") {
		t.Errorf("no audit line naming the token's owner:\n%s", log.String())
	}

	// Reflection answers without a token, as grpcurl needs: the admin service is listed.
	conn, err := grpc.NewClient(p[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rs, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatalf("reflection without a token: %v", err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !slices.Contains(services, "proxyplus.admin.v1.AdminService") || !slices.Contains(services, "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", services)
	}
}
